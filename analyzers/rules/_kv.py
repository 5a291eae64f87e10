"""Helpers for the rules about the key-value storage API (`ctx.storage.get/put/delete/list`).

tree-sitter-typescript 0.23 reads `await storage.get<T>(k)` as a call whose *function* is
`await storage.get` (the await swallowed into the callee) and the type arguments follow; without
type arguments it is `await (storage.get(k))`. Both shapes are recognised here.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.rules._common import calls_mentioning
from durable_harden.analyzers.tsutil import node_text, normalize_expr

KV_METHODS = frozenset({"get", "put", "delete", "list"})
BATCH_LIMIT = 128  # keys per get/put/delete call [LIM]


@dataclass
class KvCall:
    """A key-value storage call of a class (`get`, `put`, `delete`, `list` …)."""

    call: Node
    method: str
    receiver: str  # normalized storage expression
    awaited: bool
    statement_expr: Node  # the outermost expression of the call (the await when awaited)


def _is_storage(cls: DurableObjectClass, receiver: str) -> bool:
    return (
        receiver in cls.aliases.storage
        or receiver.endswith(".storage")
        or receiver in {"storage", "this.storage"}
    )


def kv_call(cls: DurableObjectClass, data: bytes, call: Node) -> KvCall | None:
    func = call.child_by_field_name("function")
    awaited = False
    if func is not None and func.type == "await_expression" and func.named_children:
        func = func.named_children[0]
        awaited = True
    if func is None or func.type != "member_expression":
        return None
    obj = func.child_by_field_name("object")
    prop = func.child_by_field_name("property")
    if obj is None or prop is None:
        return None
    method = node_text(data, prop)
    if method not in KV_METHODS:
        return None
    receiver = normalize_expr(node_text(data, obj))
    if not _is_storage(cls, receiver):
        return None
    outer = call
    parent = call.parent
    while parent is not None and parent.type in {"parenthesized_expression", "await_expression"}:
        if parent.type == "await_expression":
            awaited = True
        outer = parent
        parent = parent.parent
    return KvCall(call, method, receiver, awaited, outer)


def kv_calls(cls: DurableObjectClass, scope: Node | None = None) -> list[KvCall]:
    data = cls.file.data
    found = []
    # only calls whose callee names a method of the API can be one (a walk of every call when
    # the words are everywhere)
    for call in calls_mentioning(
        data, scope if scope is not None else cls.node, *KV_METHODS, file=cls.file, whole=True
    ):
        kv = kv_call(cls, data, call)
        if kv is not None:
            found.append(kv)
    return found
