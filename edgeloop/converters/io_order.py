"""Put a converted file's inputs and outputs in the model's order, by signature name.

The converter names each input and output in the file's signature after the model's
(``image``, ``meta``; ``cls``, ``reg``) but lists the graph's input and output tensors in an
order of its own (``meta`` before ``image`` on a two-input model here). Whatever runs the
file by position (``get_input_details()[0]``, ``benchmark_model``, the Edge TPU compiler's
notion of "the" input) then sees the inputs swapped. The file is rewritten so that the
graph's order is the model's order; the signature itself is unchanged except for its
lists, which follow the same order. No TensorFlow: the flatbuffer schema of LiteRT.
"""

from __future__ import annotations

from edgeloop.converters.inspect import read_model, tflite_schema
from edgeloop.errors import EdgeloopError


def _name(raw) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def signature_io(data: bytes) -> tuple[dict[str, int], dict[str, int]]:
    """The first signature's ``name -> tensor index`` maps (inputs, outputs); empty without one."""
    model = tflite_schema().Model.GetRootAs(data, 0)
    if not model.SignatureDefsLength():
        return {}, {}
    sig = model.SignatureDefs(0)
    inputs = {_name(sig.Inputs(i).Name()): sig.Inputs(i).TensorIndex() for i in range(sig.InputsLength())}
    outputs = {_name(sig.Outputs(i).Name()): sig.Outputs(i).TensorIndex() for i in range(sig.OutputsLength())}
    return inputs, outputs


def order_io(data: bytes, inputs: list[str], outputs: list[str]) -> bytes:
    """The file with its graph inputs / outputs in the order of the names given.

    Args:
        data: the ``.tflite`` bytes, with a signature naming every input and output.
        inputs: input names in the model's order.
        outputs: output names in the model's order.

    Returns:
        The same bytes when the order is already right, else the rewritten file.

    Raises:
        EdgeloopError: the signature does not name exactly these inputs and outputs.
    """
    sig_in, sig_out = signature_io(data)
    if sorted(sig_in) != sorted(inputs) or sorted(sig_out) != sorted(outputs):
        raise EdgeloopError(f"the converted file's signature names inputs {sorted(sig_in)} and outputs "
                            f"{sorted(sig_out)}, not the model's {inputs} and {outputs}")
    want_in = [sig_in[n] for n in inputs]
    want_out = [sig_out[n] for n in outputs]
    info = read_model(data)
    if list(info.inputs) == want_in and list(info.outputs) == want_out:
        return data
    from edgeloop.converters.metadata import _AlignedBuilder  # weights stay 16-byte aligned, as converted

    schema = tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    graph = model.subgraphs[0]
    if sorted(int(i) for i in graph.inputs) != sorted(want_in) or sorted(int(i) for i in graph.outputs) != sorted(want_out):
        raise EdgeloopError("the converted file's signature and graph disagree on its inputs and outputs")
    graph.inputs, graph.outputs = list(want_in), list(want_out)
    sig = model.signatureDefs[0]
    sig.inputs.sort(key=lambda m: inputs.index(_name(m.name)))
    sig.outputs.sort(key=lambda m: outputs.index(_name(m.name)))
    builder = _AlignedBuilder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    out = bytes(builder.Output())
    read_model(out)  # the rewritten file must parse
    return out
