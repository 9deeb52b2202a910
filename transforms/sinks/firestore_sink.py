"""WriteToFirestore: one document per image in a Firestore (native mode) collection.

Documents are built and cut by transforms/sinks/firestore_doc.py and written
with the BatchWrite call (google-cloud-firestore's BulkWriteBatch): it applies
each write on its own and answers a status per write, so one refused document
never fails its neighbours. Batches hold at most 500 writes (Firestore's limit)
and 9 MiB of documents (requests are limited to 10 MiB), one write per document.
Writes answered ABORTED (contention), RESOURCE_EXHAUSTED (429), UNAVAILABLE
(503), DEADLINE_EXCEEDED or INTERNAL are sent again with exponential backoff;
a request refused whole (a value Firestore will not take) is split into single
writes so only the offending image fails. A failed call counts as its gRPC
code for every write in it; the client's own retry is off, so there is one
retry policy. A document that still cannot be
written becomes its image's error row, so the image has exactly one outcome.
The library's BulkWriter is not used: it sends 20 writes a batch and retries
every failure, permanent refusals included, 15 times.

The sink outputs the rows whose documents are written (they carry the image
key), and error rows for those that are not.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.utils.shared import Shared

from transforms import metrics
from transforms.records import error_row
from transforms.sinks.firestore_doc import cut_to_fit, document_id, document_size, to_document
from transforms.sinks.row_validation import repair_error_row
from transforms.stage import ERRORS, split_outputs

MAX_BATCH_WRITES = 500
MAX_REQUEST_BYTES = 9 * 1024 * 1024
# gRPC codes worth sending again: DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE.
RETRYABLE = frozenset({4, 8, 10, 13, 14})
DEFAULT_MAX_ATTEMPTS = 7   # about a minute of backoff before a write is given up as an error row
CALL_TIMEOUT_SECS = 60.0


@dataclass(frozen=True)
class FirestoreTarget:
    """Where documents go: a collection of a database of a project."""
    project: str
    collection: str
    database: str = "(default)"

    @property
    def path(self) -> str:
        """The collection's resource name, as the console and error messages show it."""
        return f"projects/{self.project}/databases/{self.database}/documents/{self.collection}"


def firestore_client(project: str, database: str):
    """A Firestore client; FIRESTORE_EMULATOR_HOST (when set) is honoured by the library."""
    from google.cloud import firestore
    return firestore.Client(project=project, database=database)


_PROCESS_FIRESTORE = Shared()   # one client per worker process and database (the client is thread-safe)


def backoff_secs(attempt: int, rng=random.random) -> float:
    """Exponential with full jitter: 1, 2, 4 ... s (capped at 30 s) times a random share in [0.5, 1)."""
    return min(30.0, 2.0 ** (attempt - 1)) * (0.5 + rng() / 2)


def write_with_retries(writes: list, commit, max_attempts: int = DEFAULT_MAX_ATTEMPTS, sleep=time.sleep):
    """Send `writes` through `commit(group) -> [(code, message)]` until each is written,
    refused, or out of attempts. Returns (written, failed as (write, code, message, attempts), retries)."""
    written, failed, retries = [], [], 0
    pending = list(writes)
    for attempt in range(1, max_attempts + 1):
        again = []
        for w, (code, message) in zip(pending, commit(pending), strict=True):
            if code == 0:
                written.append(w)
            elif code in RETRYABLE and attempt < max_attempts:
                again.append(w)
            else:
                failed.append((w, code, message, attempt))
        if not again:
            break
        retries += len(again)
        pending = again
        sleep(backoff_secs(attempt))
    return written, failed, retries


def batches(sized: list[tuple[object, int]], max_writes: int = MAX_BATCH_WRITES,
            max_bytes: int = MAX_REQUEST_BYTES) -> list[list]:
    """Group (write, size) pairs in order into batches within both limits."""
    out: list[list] = []
    size = 0
    for w, n in sized:
        if not out or len(out[-1]) >= max_writes or size + n > max_bytes:
            out.append([])
            size = 0
        out[-1].append(w)
        size += n
    return out


def _code(e: Exception) -> int:
    """The gRPC code of a failed call: a client-side retry that ran out counts as UNAVAILABLE
    (what it retried was transient); a value the client cannot encode as INVALID_ARGUMENT."""
    from google.api_core.exceptions import RetryError
    if isinstance(e, RetryError):
        return 14
    status = getattr(e, "grpc_status_code", None)
    return status.value[0] if status is not None else 3


class _WriteDocuments(beam.DoFn):
    def __init__(self, target: FirestoreTarget, max_attempts: int):
        self.target, self.max_attempts = target, max_attempts
        self.written = metrics.counter("firestore_documents_written")
        self.cut = metrics.counter("firestore_documents_cut")
        self.retried = metrics.counter("firestore_writes_retried")
        self.failed = metrics.counter("firestore_documents_failed")
        self.batch_size = metrics.distribution("firestore_batch_size")

    def setup(self):
        project, database = self.target.project, self.target.database
        self.client = _PROCESS_FIRESTORE.acquire(lambda: firestore_client(project, database),
                                                 tag=f"{project}/{database}")

    def _commit(self, group: list) -> list[tuple[int, str]]:
        """One BatchWrite of (row, id, doc) writes; a request refused whole is split."""
        from google.api_core.exceptions import GoogleAPIError
        from google.cloud.firestore_v1.bulk_batch import BulkWriteBatch
        client = self.client
        collection = client.collection(self.target.collection)
        try:
            batch = BulkWriteBatch(client)
            for _, doc_id, doc in group:
                batch.set(collection.document(doc_id), doc)
            response = batch.commit(retry=None, timeout=CALL_TIMEOUT_SECS)   # one retry policy: ours
        except (GoogleAPIError, ValueError, TypeError) as e:
            code = _code(e)
            if code not in RETRYABLE and len(group) > 1:
                return [r for w in group for r in self._commit([w])]
            return [(code, str(e))] * len(group)
        return [(s.code, s.message) for s in response.status]

    def process(self, rows):
        target = self.target
        by_id = {}
        for row in rows:
            doc_id = document_id(row["bucket"], row["name"], row["generation"])
            by_id[doc_id] = row   # one write per document in a batch; the last delivery wins
        sized = []
        for doc_id, row in by_id.items():
            doc = to_document(row)
            fitted = cut_to_fit(target.collection, doc_id, doc)
            if fitted is not doc:
                self.cut.inc()
            sized.append(((row, doc_id, fitted), document_size(target.collection, doc_id, fitted)))
        for group in batches(sized):
            self.batch_size.update(len(group))
            written, failed, retries = write_with_retries(group, self._commit, self.max_attempts)
            self.retried.inc(retries)
            self.written.inc(len(written))
            self.failed.inc(len(failed))
            yield from (row for row, _, _ in written)
            for (row, doc_id, _), code, message, attempts in failed:
                yield beam.pvalue.TaggedOutput(ERRORS, self._error(row, doc_id, code, message, attempts))

    def _error(self, row: dict, doc_id: str, code: int, message: str, attempts: int) -> dict:
        import grpc
        name = next((c.name for c in grpc.StatusCode if c.value[0] == code), str(code))
        reason = "firestore_unavailable" if code in RETRYABLE else "firestore_refused"
        err = error_row(None, "write", reason,
                        f"Firestore did not take document {self.target.collection}/{doc_id} "
                        f"after {attempts} attempt(s): {name}: {message}"[:2000],
                        attempts=attempts, uri=row.get("uri"))
        for key in ("bucket", "name", "generation"):
            err[key] = row.get(key)
        return repair_error_row(err)


class WriteToFirestore(beam.PTransform):
    """Validated classifications rows -> StageOutput(rows whose documents are written, error rows)."""

    def __init__(self, target: FirestoreTarget, max_attempts: int = DEFAULT_MAX_ATTEMPTS):
        super().__init__()
        if not target.collection or "/" in target.collection:
            raise ValueError(f"not a Firestore collection id: {target.collection!r}")
        self.target, self.max_attempts = target, max_attempts

    def expand(self, rows):
        out = (rows
               | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=MAX_BATCH_WRITES)
               | "Write" >> beam.ParDo(_WriteDocuments(self.target, self.max_attempts))
               .with_outputs(ERRORS, main="written"))
        return split_outputs(out, "written")
