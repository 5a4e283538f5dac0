# Parquet -> figures and tables: one rule per report target, named after it, every one from
# the same loop (gair/plan/jobs.py says which products each makes, from which files). Each
# product is `python -m gair figure|table|budget TARGET --manifest FILE --out PREFIX`; the
# manifest is written before the first job, and its digest reruns the job when it changes.
# With `preflight: N` every target's rule writes the budget its preflight jobs measured.
# A product may have its own name and manifest (the audit's masking table): its caption is
# workflow/report/<its name>.rst.
for _job in PLAN.report_jobs():

    rule:
        name:
            _job.name
        input:
            _job.inputs,
        output:
            [
                report(f, caption=f"../report/{_p.name or _job.name}.rst", category=_job.category)
                if f == _p.shown and (CAPTIONS / f"{_p.name or _job.name}.rst").is_file()
                else f
                for _p in _job.products
                for f in _p.outputs
            ],
        params:
            # Snakemake evaluates `shell:` when the job runs, after the loop has moved on:
            # the loop's values reach the command through params, evaluated here.
            commands=" && ".join(
                f"{GAIR} {p.command} {p.name or _job.name} --manifest {p.manifest or _job.manifest}"
                f" --out {p.prefix}"
                for p in _job.products
            ),
            manifest_digest=_job.digest,
        log:
            _job.log,
        localrule: True
        conda:
            "../envs/gair.yaml"
        shell:
            "({params.commands}) > {log} 2>&1"


for _target in ("figures", "tables", "audit"):

    rule:
        name:
            _target
        input:
            PLAN.outputs(_target),
        localrule: True
