"""Potential-energy "systems": a loss or energy of one flat float64 vector, with derivatives."""

from lfl.systems.base import System

__all__ = ["System"]
