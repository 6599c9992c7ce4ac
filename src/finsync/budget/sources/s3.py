"""`s3` sources: a bucket and a folder-like prefix (`conn_id`, `bucket`, `prefix`, `glob`),
through `S3Hook`; any S3-compatible endpoint (the connection's extra `endpoint_url`)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from finsync.budget.sources.base import (
    DEFAULT_GLOBS,
    BudgetSource,
    RemoteFile,
    matches,
    safe_message,
)


class S3Source(BudgetSource):
    """A bucket and folder-like prefix, read through S3Hook with connection `conn_id`
    (type aws: login/password as key id and secret, or any AWS auth it supports; extra
    `endpoint_url` for an S3-compatible store).

    The connection must exist: S3Hook alone would fall back silently to whatever
    credentials and endpoint the worker's environment has."""

    source_type = "s3"
    required_keys = ("conn_id", "bucket")

    def __init__(
        self,
        customer_id: str,
        conn_id: str,
        bucket: str,
        prefix: str = "",
        globs: Sequence[str] = DEFAULT_GLOBS,
    ) -> None:
        super().__init__(customer_id, globs)
        self.conn_id = conn_id
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._hook: Any = None
        self._endpoint = "endpoint unknown"
        self._secret_values: list[str] = []

    @classmethod
    def from_config(
        cls, customer_id: str, source_config: Mapping[str, Any], globs: Sequence[str]
    ) -> S3Source:
        return cls(
            customer_id,
            source_config["conn_id"],
            source_config["bucket"],
            source_config.get("prefix", ""),
            globs,
        )

    def location(self) -> str:
        return (
            f"connection {self.conn_id!r}, {self._endpoint}, "
            f"bucket {self.bucket}, prefix {self.prefix or '(none)'}"
        )

    def hook(self) -> Any:
        """The S3Hook for the connection; SourceError when the connection is not defined."""
        if self._hook is None:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook
            from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

            try:
                conn = BaseHook.get_connection(self.conn_id)
            except AirflowNotFoundException:
                raise self.error(
                    f"the Airflow connection {self.conn_id!r} is not defined",
                    "Create it (UI, AIRFLOW_CONN_* variable or secrets backend).",
                ) from None
            extra = conn.extra_dejson if conn.extra else {}
            self._endpoint = f"endpoint {extra.get('endpoint_url') or 'AWS default'}"
            self._secret_values = [
                v for v in (conn.password, extra.get("aws_secret_access_key")) if v
            ]
            self._hook = S3Hook(aws_conn_id=self.conn_id)
        return self._hook

    def list_files(self) -> list[RemoteFile]:
        hook = self.hook()
        with self._errors("listing the bucket"):
            objects = list(hook.iter_file_metadata(prefix=self.prefix, bucket_name=self.bucket))
        files = []
        for obj in objects:
            name = obj["Key"][len(self.prefix) :]
            if name and "/" not in name and matches(name, self.globs):
                files.append(self._file(name, obj["Size"], obj["LastModified"], obj["Key"]))
        return files

    def stat(self, name: str) -> RemoteFile | None:
        hook = self.hook()
        key = self.prefix + name
        with self._errors(f"looking at {name}"):
            head = hook.head_object(key=key, bucket_name=self.bucket)
        if head is None:
            return None
        return self._file(name, head["ContentLength"], head["LastModified"], key)

    def _download(self, remote: RemoteFile, target: Path) -> None:
        hook = self.hook()
        with self._errors(f"downloading {remote.name}"):
            downloaded = hook.download_file(
                key=remote.ref, bucket_name=self.bucket, local_path=str(target.parent)
            )
        os.replace(downloaded, target)

    # Writing back (BudgetSource.write): S3 has no rename, so the temporary object is copied
    # to the final key on the server (one atomic replacement) and then deleted.
    writable = True

    def _put(self, name: str, data: bytes) -> None:
        hook = self.hook()
        with self._errors(f"writing {name}"):
            hook.load_bytes(data, key=self.prefix + name, bucket_name=self.bucket, replace=True)

    def _rename(self, name: str, new_name: str) -> None:
        hook = self.hook()
        with self._errors(f"renaming {name} to {new_name}"):
            hook.copy_object(
                source_bucket_key=self.prefix + name,
                dest_bucket_key=self.prefix + new_name,
                source_bucket_name=self.bucket,
                dest_bucket_name=self.bucket,
            )
        self._remove(name)

    def _remove(self, name: str) -> None:
        hook = self.hook()
        with self._errors(f"removing {name}"):
            hook.delete_objects(bucket=self.bucket, keys=[self.prefix + name])

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn botocore's errors into a SourceError naming the source, without secrets."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            raise self.error(
                f"{action}: {_s3_problem(code)}", _s3_hint(code, self.conn_id)
            ) from None
        except BotoCoreError as exc:
            problem = safe_message(exc, self._secret_values)
            raise self.error(
                f"{action}: cannot reach or use the endpoint ({problem})",
                f"Check endpoint_url, region and network access in connection {self.conn_id!r}.",
            ) from None


def _s3_problem(code: str) -> str:
    known = {
        "NoSuchBucket": "the bucket does not exist",
        "404": "not found",
        "NoSuchKey": "the file is gone",
        "AccessDenied": "access denied",
        "403": "access denied",
        "InvalidAccessKeyId": "the access key is not known to the endpoint",
        "SignatureDoesNotMatch": "the secret key does not match the access key",
    }
    return known.get(code, f"the endpoint answered {code or 'an error'}")


def _s3_hint(code: str, conn_id: str) -> str:
    if code in ("NoSuchBucket", "404", "NoSuchKey"):
        return "Check source_config.bucket and prefix."
    return f"Check the credentials and permissions of connection {conn_id!r}."
