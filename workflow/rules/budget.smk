# Preflight (config `preflight: N`): every target's rule, under its own name, writes the
# budget its preflight jobs measured instead of its figure or table (gair/train/preflight.py).
for _name in PLAN.config["experiments"]:

    rule:
        name:
            _name
        input:
            PLAN.experiment_inputs(_name),
        output:
            PLAN.budget_outputs(_name),
        params:
            name=_name,
            manifest=PLAN.manifest_file(f"budget_{_name}"),
            manifest_digest=PLAN.digest(PLAN.budget_manifest(_name)),
            prefix=lambda wildcards, output: output[0][: -len(".csv")],
            gair=GAIR,
        log:
            f"{RESULTS}/logs/budget/{_name}.log",
        localrule: True
        conda:
            "../envs/gair.yaml"
        shell:
            "{params.gair} budget {params.name} --manifest {params.manifest} "
            "--out {params.prefix} > {log} 2>&1"


for _group in ("figures", "tables", "audit"):

    rule:
        name:
            _group
        input:
            PLAN.outputs(_group),
        localrule: True
