"""Score with KServe's Python SDK REST client: ``python kserve_rest.py BASE MODEL RECORDS.json MODE``.

MODE ``json`` or ``binary`` (the SDK's binary tensor data for inputs and outputs). Prints JSON.
"""

import asyncio
import json
import sys
from pathlib import Path

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput


async def main(base: str, model: str, records_path: str, mode: str) -> None:
    records = json.loads(Path(records_path).read_text())
    binary = mode == "binary"
    async with InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30)) as client:
        assert await client.is_server_live(base) and await client.is_server_ready(base)
        assert await client.is_model_ready(base, model)
        meta = httpx.get(f"{base}/v2/models/{model}").json()
        inputs = []
        for tensor in meta["inputs"]:
            values = [r[tensor["name"]] for r in records]
            if tensor["datatype"] == "BYTES":
                array = np.array(values, dtype=np.object_)
                infer_input = InferInput(tensor["name"], [len(values)], "BYTES")
            else:
                array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
                infer_input = InferInput(tensor["name"], [len(values)], "FP64")
            infer_input.set_data_from_numpy(array, binary_data=binary)
            inputs.append(infer_input)
        wanted = [RequestedOutput(o["name"], {"binary_data": binary}) for o in meta["outputs"]]
        request = InferRequest(model_name=model, infer_inputs=inputs, request_id="kserve-1", request_outputs=wanted)
        response = await client.infer(base, request, model_name=model)
        got = {}
        for output in response.outputs:
            values = output.as_numpy().tolist()
            got[output.name] = [v.decode() if isinstance(v, bytes) else v for v in values]
        try:
            await client.infer(base, InferRequest(model_name="no_such_model", infer_inputs=inputs),
                               model_name="no_such_model")
            error = None
        except httpx.HTTPStatusError as exc:
            error = {"message": str(exc), "status": exc.response.status_code}
    print(json.dumps({"outputs": got, "id": response.id, "error": error}))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
