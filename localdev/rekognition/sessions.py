"""onnxruntime sessions for the shipped models, created once, on first use."""

import threading
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent / "models"

# The development machines and CI have 2 cores: more threads would only contend.
DEFAULT_THREADS = 2


class LazySession:
    """One model file's onnxruntime session, loaded by the first ``run`` (once, even when
    requests arrive together) so that starting the endpoint stays instant."""

    def __init__(self, filename: str, threads: int = DEFAULT_THREADS):
        self.path = MODELS_DIR / filename
        self.threads = threads
        self._session = None
        self._lock = threading.Lock()

    def load(self):
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._create()
        return self._session

    def _create(self):
        import onnxruntime  # deferred: importing it costs ~0.2 s that `--help` should not pay

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # Idle worker threads spin by default; a local server waits most of its life.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return onnxruntime.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )

    def run(self, outputs: list[str], inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        # InferenceSession.run is thread-safe, so concurrent requests share the session.
        return self.load().run(outputs, inputs)
