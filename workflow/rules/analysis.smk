# Analysis stage: metrics of every minimum -> tables, disconnectivity graphs, box plots.


def analysis_targets():
    return []
