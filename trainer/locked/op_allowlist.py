"""op_allowlist: the model is data, not code. Checks an exported model's graph before its first forward.

Copied into the locked folder of every run and imported by ``model_server.py`` (standard library and torch only).
A model is accepted when every node of its forward graph (TorchScript: the inlined graph, nested blocks included;
torch.export: every ``call_function`` node) is an op of :data:`ALLOWED_OPS`, every value has a plain type (tensors,
numbers, bools, strings, None, devices, dtypes, lists and tuples of them, and the model's own submodules), and the
TorchScript archive defines no ``__setstate__`` (code that would run at load time). Refused: printing
(``prim::Print``, ``aten::print``), file and storage ops (``aten::from_file``, ``aten::save``, ``aten::set_``), an
in-place op (a name ending in ``_``) on a parameter, buffer, constant or input or a view of one (the only way a traced
model keeps state across calls; in-place ops on fresh temporaries, as ``x += y`` traces, are fine), attribute writes
(``prim::SetAttr``), random ops, control flow, custom classes (``torch.classes.*``), Python fallbacks
(``prim::PythonOp``) and function or method calls left after inlining. A refusal names the op.
"""

from __future__ import annotations

import zipfile
from typing import IO, Any, Iterable

import torch

__all__ = ["Refused", "ALLOWED_OPS", "check_archive", "check_torchscript", "check_export"]

_SHAPE_AND_GLUE = """
prim::Constant prim::GetAttr prim::ListConstruct prim::ListUnpack prim::TupleConstruct prim::TupleUnpack
prim::TupleIndex prim::NumToTensor prim::device prim::dtype prim::shape prim::min prim::max
aten::Int aten::Float aten::Bool aten::ScalarImplicit aten::size aten::dim aten::len aten::__getitem__
aten::view aten::reshape aten::view_as aten::reshape_as aten::flatten aten::unflatten aten::squeeze aten::unsqueeze
aten::transpose aten::permute aten::t aten::numpy_T aten::mT aten::contiguous aten::expand aten::expand_as
aten::repeat aten::repeat_interleave aten::tile aten::slice aten::select aten::narrow aten::index_select
aten::gather aten::index aten::take_along_dim aten::split aten::split_with_sizes aten::chunk aten::unbind
aten::cat aten::concat aten::stack aten::hstack aten::vstack aten::roll aten::flip aten::pad aten::constant_pad_nd
aten::tril aten::triu aten::diagonal aten::to aten::type_as aten::detach aten::clone aten::alias
aten::arange aten::zeros aten::ones aten::full aten::zeros_like aten::ones_like aten::full_like aten::empty_like
aten::eye aten::one_hot aten::where aten::masked_fill aten::lift_fresh aten::scalar_tensor aten::tensor
aten::_unsafe_view aten::_to_copy aten::unsafe_split aten::unsafe_chunk aten::as_strided aten::new_zeros
aten::new_ones aten::new_full aten::floordiv aten::floor_divide aten::remainder aten::__and__ aten::__or__
aten::eq aten::ne aten::lt aten::le aten::gt aten::ge aten::logical_and aten::logical_or aten::logical_not
aten::Int.Tensor aten::sym_size aten::sym_numel aten::numel aten::sum.int aten::fill aten::copy aten::zero
aten::index_put aten::scatter aten::scatter_add aten::index_add aten::index_copy aten::index_fill aten::masked_scatter
"""
_MATH = """
aten::add aten::sub aten::rsub aten::mul aten::div aten::neg aten::pow aten::square aten::sqrt aten::rsqrt
aten::exp aten::exp2 aten::log aten::log2 aten::log1p aten::expm1 aten::abs aten::sign aten::reciprocal
aten::sin aten::cos aten::tan aten::tanh aten::sigmoid aten::erf aten::atan aten::clamp aten::clip aten::clamp_min
aten::clamp_max aten::minimum aten::maximum aten::floor aten::ceil aten::round aten::trunc aten::lerp aten::addcmul
aten::sum aten::mean aten::var aten::std aten::var_mean aten::prod aten::amax aten::amin aten::max aten::min
aten::argmax aten::argmin aten::cumsum aten::logsumexp aten::norm aten::linalg_vector_norm aten::topk aten::sort
aten::matmul aten::mm aten::bmm aten::addmm aten::baddbmm aten::einsum aten::outer aten::linear aten::bilinear
aten::conv1d aten::embedding aten::layer_norm aten::native_layer_norm aten::group_norm aten::rms_norm
aten::batch_norm aten::softmax aten::log_softmax aten::_softmax aten::_log_softmax aten::relu aten::relu6
aten::gelu aten::silu aten::mish aten::elu aten::selu aten::leaky_relu aten::softplus aten::hardtanh
aten::hardswish aten::hardsigmoid aten::glu aten::dropout aten::feature_dropout aten::alpha_dropout
aten::scaled_dot_product_attention aten::_scaled_dot_product_flash_attention_for_cpu
aten::_scaled_dot_product_efficient_attention aten::_scaled_dot_product_flash_attention
"""
ALLOWED_OPS: frozenset[str] = frozenset((_SHAPE_AND_GLUE + _MATH).split())
_PLAIN_TYPES = frozenset({"TensorType", "IntType", "FloatType", "BoolType", "StringType", "NoneType", "NumberType",
                          "DeviceObjType", "ScalarTypeType", "LayoutType", "MemoryFormatType", "SymIntType",
                          "SymFloatType", "SymBoolType"})
_NESTED_TYPES = frozenset({"ListType", "TupleType", "OptionalType"})
MAX_ARCHIVE_CODE_BYTES = 64 << 20


class Refused(Exception):
    """The model is not evaluated: the message names the op or type."""


def check_archive(source: str | IO[bytes]) -> None:
    """Before loading a TorchScript archive (a path or the file's bytes): no code that would run at load time, no
    custom classes in its code."""
    try:
        with zipfile.ZipFile(source) as archive:
            total = 0
            for info in archive.infolist():
                if "/code/" not in info.filename or not info.filename.endswith(".py"):
                    continue
                total += info.file_size
                if total > MAX_ARCHIVE_CODE_BYTES:
                    raise Refused("the model's code is over 64 MiB")
                text = archive.read(info).decode("utf-8", errors="replace")
                for word in ("__setstate__", "torch.classes", "__getstate__"):
                    if word in text:
                        raise Refused(f"the model defines {word} ({info.filename}): only a graph of tensor ops is "
                                      "accepted; export the model with submit_model()")
    except (zipfile.BadZipFile, OSError) as exc:
        raise Refused(f"the model file is not a TorchScript archive: {exc}") from exc


def _check_type(t: Any, modules: frozenset[str], where: str) -> None:
    kind = t.kind()
    if kind in _PLAIN_TYPES:
        return
    if kind in _NESTED_TYPES:
        for inner in t.containedTypes():
            _check_type(inner, modules, where)
        return
    if kind == "ClassType" and t.qualified_name() in modules:
        return
    raise Refused(f"the model's graph uses a value of type {t} ({where}): only tensors, numbers, lists and the "
                  "model's own submodules are allowed (no custom classes)")


def _nodes(block: Any) -> Iterable[Any]:
    for node in block.nodes():
        yield node
        for inner in node.blocks():
            yield from _nodes(inner)


_VIEWS = frozenset("""
aten::view aten::reshape aten::view_as aten::reshape_as aten::flatten aten::unflatten aten::squeeze aten::unsqueeze
aten::transpose aten::permute aten::t aten::numpy_T aten::mT aten::contiguous aten::expand aten::expand_as
aten::slice aten::select aten::narrow aten::split aten::split_with_sizes aten::chunk aten::unbind aten::diagonal
aten::to aten::type_as aten::detach aten::alias aten::as_strided aten::_unsafe_view aten::unsafe_split
aten::unsafe_chunk aten::__getitem__ prim::ListUnpack prim::ListConstruct prim::TupleUnpack prim::TupleConstruct
prim::TupleIndex aten::index_select aten::lift_fresh
""".split())


def _base(name: str) -> str:
    return name.split(".", 1)[0]


def _check_op(name: str) -> None:
    base = _base(name)
    if name in ALLOWED_OPS or base in ALLOWED_OPS or (base.endswith("_") and base[:-1] in ALLOWED_OPS):
        return
    raise Refused(f"the model's graph calls {name}: not a pure tensor op of the allowlist "
                  "(trainer/locked/op_allowlist.py)")


def _roots(value: Any, seen: set[int]) -> Iterable[str]:
    """The kinds of the nodes a value may alias back to, through view-like ops (graph inputs: ``input``)."""
    if id(value) in seen:
        return
    seen.add(id(value))
    node = value.node()
    kind = node.kind()
    if kind == "prim::Param":
        yield "input"
    elif kind in _VIEWS:
        inputs = list(node.inputs())
        # a list or tuple aliases all its items; a view op aliases its first argument (the rest are sizes, dims)
        for inner in inputs if kind.startswith("prim::") else inputs[:1]:
            yield from _roots(inner, seen)
    else:
        yield kind


def _check_in_place(node: Any) -> None:
    """An in-place op may only write to a fresh temporary, never to state that outlives the call."""
    inputs = list(node.inputs())
    if not inputs:
        return
    for root in _roots(inputs[0], set()):
        if root in ("prim::GetAttr", "prim::Constant", "input"):
            what = {"prim::GetAttr": "a parameter or buffer", "prim::Constant": "a constant"}.get(root, "its input")
            raise Refused(f"the model's graph calls {node.kind()} on {what}: an in-place op may not change state "
                          "that outlives the call (a model is evaluated fresh on every batch)")


def check_torchscript(module: Any) -> int:
    """Check a loaded ``torch.jit.ScriptModule``; return the number of nodes checked (``Refused`` on the first bad)."""
    modules = frozenset(sub._c._type().qualified_name() for _, sub in module.named_modules())
    methods = [name for name in module._c._type().method_names() if name != "forward"]
    if "__setstate__" in methods:
        raise Refused("the model defines __setstate__: only a graph of tensor ops is accepted")
    graph = module.inlined_graph
    count = 0
    for value in graph.inputs():
        _check_type(value.type(), modules, "an input")
    for node in _nodes(graph):
        count += 1
        _check_op(node.kind())
        if _base(node.kind()).endswith("_"):
            _check_in_place(node)
        for value in node.outputs():
            _check_type(value.type(), modules, f"output of {node.kind()}")
    return count


def check_export(program: Any) -> int:
    """Check a loaded ``torch.export.ExportedProgram``: every call is an allowed aten op (or ``operator.getitem``)."""
    import operator

    count = 0
    for node in program.graph_module.graph.nodes:
        if node.op in ("placeholder", "output", "get_attr"):
            continue
        count += 1
        if node.op != "call_function":
            raise Refused(f"the exported graph has a {node.op} node ({node.target}): only aten ops are accepted")
        if node.target is operator.getitem:
            continue
        if not isinstance(node.target, torch._ops.OpOverload):
            raise Refused(f"the exported graph calls {node.target}: only aten ops are accepted")
        name = node.target._schema.name
        _check_op(name)
        if node.target._schema.is_mutable:
            raise Refused(f"the exported graph calls {name}, which mutates its arguments: no state may outlive a call")
    for sub in program.graph_module.modules():
        if sub is not program.graph_module and isinstance(sub, torch.fx.GraphModule):
            raise Refused("the exported graph has a nested graph (a higher-order op): only aten ops are accepted")
    return count
