"""The research graph's nodes: each does one step of work and returns a partial state update.

Job level: baseline, select, join, verify, critique, gate_finding, decide, report, and for a job
that asked for a write-up paper and gate_paper. Branch level
(one parallel expansion of the tree): ideate, gate_idea, implement, gate_code, execute, review,
abandon.
"""

from agents.nodes.baseline import baseline
from agents.nodes.critique import critique
from agents.nodes.decide import decide
from agents.nodes.execute import execute
from agents.nodes.gates import gate_code, gate_finding, gate_idea
from agents.nodes.ideate import ideate
from agents.nodes.implement import implement
from agents.nodes.paper import gate_paper, paper
from agents.nodes.report import report
from agents.nodes.review import abandon, review
from agents.nodes.select import fan_out, select
from agents.nodes.verification import join, verify

JOB_NODES = ["baseline", "select", "join", "verify", "critique", "gate_finding", "decide", "report", "paper",
             "gate_paper"]
BRANCH_NODES = ["ideate", "gate_idea", "implement", "gate_code", "execute", "review", "abandon"]

__all__ = ["baseline", "select", "fan_out", "ideate", "gate_idea", "implement", "gate_code", "execute", "review",
           "abandon", "join", "verify", "critique", "gate_finding", "decide", "report", "paper", "gate_paper",
           "JOB_NODES", "BRANCH_NODES"]
