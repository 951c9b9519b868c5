"""Build the request and read the answer with MLServer's codecs (``PandasCodec``), as an MLServer user
would: ``python mlserver_codecs.py BASE MODEL RECORDS.json``. Prints JSON."""

import json
import sys
from pathlib import Path

import pandas as pd
import requests
from mlserver.codecs import PandasCodec
from mlserver.types import InferenceResponse


def main(base: str, model: str, records_path: str) -> None:
    frame = pd.DataFrame(json.loads(Path(records_path).read_text()))
    # MLServer 1.7's codecs know NumPy's object dtype, not pandas 3's "str" columns
    frame = frame.astype({c: object for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])})
    request = PandasCodec.encode_request(frame)
    body = request.model_dump(mode="json", exclude_none=True)
    answer = requests.post(f"{base}/v2/models/{model}/infer", json=body, timeout=30)
    answer.raise_for_status()
    decoded = PandasCodec.decode_response(InferenceResponse(**answer.json()))
    error = requests.post(f"{base}/v2/models/no_such_model/infer", json=body, timeout=30)
    outputs = {c: [v.decode() if isinstance(v, bytes) else v for v in decoded[c].tolist()] for c in decoded.columns}
    print(json.dumps({"outputs": outputs,
                      "error": {"status": error.status_code, "body": error.json()}}))


if __name__ == "__main__":
    main(*sys.argv[1:])
