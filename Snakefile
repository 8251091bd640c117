# lfl workflow: every rule lives in workflow/rules; the science lives in the `lfl` package.
include: "workflow/rules/common.smk"
# an included file's first rule is not the default target unless the include says so
include: "workflow/rules/all.smk", overwrite_default_target=True
include: "workflow/rules/data.smk"
include: "workflow/rules/landscape.smk"
include: "workflow/rules/connect.smk"
include: "workflow/rules/refine.smk"
include: "workflow/rules/analysis.smk"
