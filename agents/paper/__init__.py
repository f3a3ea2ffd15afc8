"""The write-up of a finished job: a paper whose every number comes from the journal.

    journal.py   the references prose may use ({{gain r2s0}}) and the tables, rendered from the job's state
    claims.py    the claim check: numerals in the prose that no reference or the task text accounts for
    prose.py     the prose: from templates (no model) or from the model, revised on a human's reason
    review.py    the automated review on the NeurIPS form, and the meta-review
    pdf.py       paper.md → HTML → paper.pdf with headless Chromium
    citations.py the references section: the job's literature, and an optional literature search
    write.py     all of it into runs/JOB/paper/
"""
