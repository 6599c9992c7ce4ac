"""Where customers' budget files come from, and taking each file exactly once.

Sources (docs/budget_sync.md, "Sources and `source_config` keys"), built from a row's
`source_type` and `source_config` by `build_source`:

- `local`: a folder on the Airflow workers (`path`, `glob`); `upload`: the drop folder the
  API writes posted files to, read the same way.
- `sftp`: a directory on an SFTP server (`conn_id`, `path`, `glob`), through the SFTP
  provider's `SFTPHook`.
- `s3`: a bucket and a folder-like prefix (`conn_id`, `bucket`, `prefix`, `glob`), through
  `S3Hook`; any S3-compatible endpoint (the connection's extra `endpoint_url`).
- `google_sheets`, `anaplan`, `http`: an API's answer pulled whole (a Sheets range, an Anaplan
  export, a file behind an HTTPS address) as the one candidate file, offered `complete` (no
  settle wait); its content's SHA-256 decides `unchanged` (rule 4). docs/budget_sources.md.

Rules every source keeps:

- Credentials live only in Airflow connections; `source_config` names one with `conn_id` and
  `validate_source_config` refuses anything that looks like a credential. Errors name the
  customer, the source type, the host or bucket and the path, never a password, key or secret.
- A listing is one level deep (no sub-folders; for S3 the prefix is a folder, `exports` and
  `exports/` mean the same). The glob (a pattern or a list, default `*.csv`, `*.xlsx`, `*.xls`)
  matches the file name case-insensitively; hidden files (`.name`) and Office lock files
  (`~$name`) never match.
- Customer files are never modified, moved or deleted: `fetch` copies a file to a local
  working copy, `cleanup_downloads` only removes working copies.

Exactly once (the ledger `budget_file_ledger`, one row per file version and outcome):

1. Only the NEWEST matching file (latest modified time, ties broken by name) is a candidate.
   Older files are superseded, never taken after a newer one: an import makes the warehouse
   match the file (soft-deleting what is absent), so an older export would roll budgets back.
2. The candidate is already processed when the ledger holds its (name, size, modified time)
   with any outcome. Then the run does nothing and reports `unchanged`. Only outcomes about the
   file's content are recorded (`failed` for a wrong or rejected file, `needs_review` waiting
   for a person): the same bytes would fail again, and polling them every hour would repeat
   the failure notice and the review request. Outages (an unreachable server, a dropped
   warehouse connection) raise before anything is recorded, so the next try takes the file
   again. A person's answer to a review, or a manual run with `force`, re-takes a file.
3. A candidate modified less than `settle_seconds` ago waits for a later poll; so does one
   whose size or modified time changes between two looks a short pause apart (`is_settled`):
   it is still being written.
4. The file is fetched (the working copy must have the listed size, else it is still
   changing) and its SHA-256 computed. When the same name with the same checksum is already
   in the ledger with a done status (a re-export of identical content: new modified time,
   same bytes), the run records this version as `unchanged` without parsing it.
5. Otherwise the file is processed and its version recorded with the sync's outcome
   (`ledger_record`, idempotent: recording the same version again updates its status).

The package, one idea per module (each imports only the ones above it):

- `base`: the `BudgetSource` interface, `RemoteFile`, `Choice`, the errors, glob matching,
  working copies;
- `checks`: the checks every `source_config` gets (no credentials, key types);
- `local`, `sftp`, `s3`: one module per kind of place;
- `google_sheets`, `anaplan`, `http`: one module per API, on `web` (the pulled source, an HTTP
  client that retries only where waiting helps, the refusal that is not retried);
- `registry`: `SOURCES` (source type -> class), `validate_source_config`, `build_source`;
- `choice`: which file a run takes (rules 1 to 3);
- `ledger`: the `budget_file_ledger` SQL (rules 2, 4 and 5).

A new source type is a new module with a `BudgetSource` subclass and one entry in
`registry.SOURCES`.
"""

from finsync.budget.sources.base import (
    DEFAULT_GLOBS,
    WORKING_COPY_MARKER,
    WRITE_PREFIX,
    BudgetSource,
    Choice,
    FileChangedError,
    ForeignFileError,
    RemoteFile,
    SourceConfigError,
    SourceError,
    cleanup_downloads,
    globs_of,
    matches,
    sha256_of,
)
from finsync.budget.sources.choice import choose_file, explain_choice, is_settled
from finsync.budget.sources.ledger import (
    DONE_STATUSES,
    LEDGER_STATUSES,
    is_done,
    ledger_already_seen,
    ledger_lookup,
    ledger_record,
    ledger_seen_checksum,
)
from finsync.budget.sources.local import LocalSource, UploadSource
from finsync.budget.sources.registry import (
    REQUIRED_KEYS,
    SOURCE_TYPES,
    SOURCES,
    build_source,
    validate_source_config,
)
from finsync.budget.sources.s3 import S3Source
from finsync.budget.sources.sftp import SFTPSource

__all__ = [
    "DEFAULT_GLOBS",
    "DONE_STATUSES",
    "LEDGER_STATUSES",
    "REQUIRED_KEYS",
    "SOURCES",
    "SOURCE_TYPES",
    "WORKING_COPY_MARKER",
    "WRITE_PREFIX",
    "BudgetSource",
    "Choice",
    "FileChangedError",
    "ForeignFileError",
    "LocalSource",
    "RemoteFile",
    "S3Source",
    "SFTPSource",
    "SourceConfigError",
    "SourceError",
    "UploadSource",
    "build_source",
    "choose_file",
    "cleanup_downloads",
    "explain_choice",
    "globs_of",
    "is_done",
    "is_settled",
    "ledger_already_seen",
    "ledger_lookup",
    "ledger_record",
    "ledger_seen_checksum",
    "matches",
    "sha256_of",
    "validate_source_config",
]
