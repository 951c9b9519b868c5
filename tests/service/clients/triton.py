"""Score with NVIDIA's tritonclient (HTTP), as its users do: ``python triton.py BASE MODEL RECORDS.json MODE``.

MODE ``json`` sends and asks for JSON tensors; ``binary`` uses the binary tensor data extension
both ways (tritonclient's default); ``+gzip`` or ``+deflate`` after either compresses the request
bodies and asks for compressed answers (``request_compression_algorithm``,
``response_compression_algorithm``), as tritonclient's users turn it on. Prints ``{"outputs":
{name: values}, "error": <message of an infer against an unknown model>, "metadata": ...}`` as JSON.
"""

import json
import sys
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def main(base: str, model: str, records_path: str, mode: str) -> None:
    records = json.loads(Path(records_path).read_text())
    mode, _, compression = mode.partition("+")
    binary = mode == "binary"
    squeeze = {"request_compression_algorithm": compression, "response_compression_algorithm": compression} \
        if compression else {}
    client = httpclient.InferenceServerClient(url=base.split("://", 1)[1])
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(model)
    server = client.get_server_metadata()
    meta = client.get_model_metadata(model)
    inputs = []
    for tensor in meta["inputs"]:
        values = [r[tensor["name"]] for r in records]
        if tensor["datatype"] == "BYTES":
            array = np.array(values, dtype=np.object_).reshape(-1, 1)
        else:
            array = np.array([np.nan if v is None else v for v in values], dtype=np.float64).reshape(-1, 1)
        infer_input = httpclient.InferInput(tensor["name"], list(array.shape), "BYTES" if tensor["datatype"] == "BYTES"
                                            else "FP64")
        infer_input.set_data_from_numpy(array, binary_data=binary)
        inputs.append(infer_input)
    outputs = [httpclient.InferRequestedOutput(o["name"], binary_data=binary) for o in meta["outputs"]]
    result = client.infer(model, inputs, outputs=outputs, request_id="triton-1", **squeeze)
    def columns(answer: httpclient.InferResult) -> dict:
        return {o["name"]: [v.decode() if isinstance(v, bytes) else v for v in answer.as_numpy(o["name"]).tolist()]
                for o in meta["outputs"]}

    got = columns(result)
    # no outputs named: tritonclient asks for every output in binary
    same = columns(client.infer(model, inputs, **squeeze)) == got
    try:
        client.infer("no_such_model", inputs, **squeeze)
        error = None
    except InferenceServerException as exc:
        error = {"message": exc.message(), "status": exc.status()}
    print(json.dumps({"outputs": got, "default_outputs_equal": bool(same), "error": error, "server": server,
                      "id": result.get_response()["id"]}))


if __name__ == "__main__":
    main(*sys.argv[1:])
