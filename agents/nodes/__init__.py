"""The research graph's nodes: each does one step of work and returns a partial state update."""

from agents.nodes.baseline import baseline
from agents.nodes.decide import decide
from agents.nodes.execute import execute, verify
from agents.nodes.gates import gate_code, gate_finding, gate_idea
from agents.nodes.ideate import ideate
from agents.nodes.implement import debug, implement
from agents.nodes.report import report
from agents.nodes.review import review

__all__ = ["baseline", "ideate", "gate_idea", "implement", "debug", "gate_code", "execute", "review",
           "verify", "gate_finding", "decide", "report"]
