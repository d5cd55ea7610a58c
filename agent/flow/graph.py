"""Builds the interview graph: plan -> ask (interrupt) -> analyse -> route -> ask | critique."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent.flow.context import InterviewContext
from agent.flow.nodes import analyse_node, ask_node, critique_node, plan_node, route_node
from agent.flow.state import InterviewState


def build_graph(
    *, checkpointer: BaseCheckpointSaver[Any] | None = None
) -> CompiledStateGraph[InterviewState, InterviewContext, InterviewState, InterviewState]:
    """Compile a fresh interview graph (one per caller; never a module global)."""
    g = StateGraph(InterviewState, context_schema=InterviewContext)
    g.add_node("plan", plan_node)
    g.add_node("ask", ask_node)
    g.add_node("analyse", analyse_node)
    g.add_node("route", route_node, destinations=("ask", "critique"))
    g.add_node("critique", critique_node)
    g.add_edge(START, "plan")
    g.add_edge("plan", "ask")
    g.add_edge("ask", "analyse")
    g.add_edge("analyse", "route")
    g.add_edge("critique", END)
    return g.compile(checkpointer=checkpointer)
