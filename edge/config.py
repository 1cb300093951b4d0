"""Daemon configuration: a TOML file (--config or EDGE_OCR_CONFIG) overridden by EDGE_OCR_<SECTION>__<KEY> variables.

Typed, frozen, documented per field; unknown keys are rejected, in the file and in the environment. The defaults
are the embedded appliance: watch ./scan, write ./results, keep state in ./state, no broker.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigError
from .options import OcrOptions
from .tomlfile import describe, read_toml

ENV_PREFIX = "EDGE_OCR_"
# EDGE_OCR_* variables that belong to other commands (build cache, tests), not to the daemon's settings.
OTHER_ENV = {"CONFIG", "MODELS_DIR", "CACHE", "PROFILES_DIR", "PYTHON", "REFERENCE"}
JUNK = [".DS_Store", "._*", "Thumbs.db", "desktop.ini", "@eaDir", ".stfolder", ".stversions", "*.tmp", "*.part",
        "*.partial", "*.crdownload", "*.swp", "~*", ".~lock*", ".*"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FolderConfig(_Section):
    enabled: bool = Field(True, description="watch the scan folder")
    path: Path = Field(Path("scan"), description="folder scanners drop files into (subfolders carry meaning)")
    done_dir: Path = Field(Path("done"), description="originals move here once their result is stored")
    failed_dir: Path = Field(Path("failed"), description="originals that failed move here, with <name>.error.json")
    delete_done: bool = Field(False, description="delete originals instead of moving them to done_dir")
    polling: bool = Field(False, description="poll instead of inotify (NFS/SMB mounts never send inotify events)")
    poll_seconds: float = Field(2.0, gt=0, description="polling interval when polling is on")
    settle_seconds: float = Field(2.0, ge=0, description="size and mtime must stay unchanged this long")
    rescan_seconds: float = Field(60.0, gt=0, description="full rescan interval (catches missed events)")
    decode_retries: int = Field(3, ge=0, description="retries for a file that does not decode yet (still being written)")
    ignore: list[str] = Field(default_factory=list, description="extra glob patterns to ignore (names or relative paths)")


class ResultsConfig(_Section):
    dir: Path = Field(Path("results"), description="folder jobs write <subfolder>/<stem>.json here")
    save_images: bool = Field(False, description="also write <stem>_ocr_res_img.png visualisations")
    max_output_img_size: tuple[int, int] | None = Field((2000, 2000), description=(
        "images in answers (ocrImage, docPreprocessingImage, inputImage) are scaled down to fit, by PaddleX's rule "
        "for its max_output_img_size; null: full size"))


class TlsConfig(_Section):
    ca_certs: Path | None = Field(None, description="CA bundle to verify the broker")
    certfile: Path | None = Field(None, description="client certificate")
    keyfile: Path | None = Field(None, description="client key")
    insecure: bool = Field(False, description="skip broker hostname verification (testing only)")


class MqttConfig(_Section):
    enabled: bool = Field(False, description="connect to a broker (requests in, results out)")
    host: str = Field("localhost", description="broker host")
    port: int = Field(1883, ge=1, le=65535, description="broker port")
    username: str | None = Field(None, description="broker user")
    password: SecretStr | None = Field(None, description="broker password (masked in `config check`)")
    tls: TlsConfig | None = Field(None, description="TLS settings; absent means plain TCP")
    client_id: str | None = Field(None, description="default edge-ocr-<device_id>; also the persistent session name")
    topic_prefix: str | None = Field(None, description="default edge-ocr/<device_id>")
    qos: Literal[0, 1, 2] = Field(1, description="QoS of subscriptions and results")
    shared_group: str | None = Field(None, description="subscribe via $share/<group>/... so several boxes split requests")
    protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT protocol version")
    keepalive: int = Field(30, ge=5, le=3600, description="seconds")
    stats_seconds: float = Field(60.0, gt=0, description="interval of <prefix>/stats")
    reconnect_max_seconds: float = Field(30.0, gt=0, description="longest back-off between reconnects")
    max_publish_attempts: int = Field(5, ge=1, le=1000, description=(
        "publishes of one result that end in a lost connection before it is moved to the journal's dead_letters "
        "table (a message the broker refuses must not block the ones behind it)"))


class LimitsConfig(_Section):
    max_pixels: int = Field(100_000_000, gt=0, description="images over this many pixels are refused")
    max_pdf_pages: int = Field(100, gt=0, description="PDFs with more pages are refused")
    max_payload_bytes: int = Field(20_000_000, gt=0, description="largest MQTT request accepted")
    queue_size: int = Field(100, gt=0, description="queued jobs before the scan folder stops taking new files")
    job_timeout_seconds: float = Field(600, gt=0, description="a job running longer counts as a stuck worker "
                                                              "(systemd watchdog pings stop)")
    memory_mb: int | None = Field(None, ge=64, description=(
        "memory the OCR process may use; unset: the profile's [memory] memory_mb. A page predicted to need more is "
        "downscaled or refused (memory_policy)"))
    memory_policy: Literal["downscale", "refuse"] | None = Field(None, description=(
        "a page over memory_mb: downscale (detection size lowered; the result says so) or refuse (error result, input "
        "kept); unset: the profile's"))
    crash_retries: int = Field(2, ge=0, le=100, description=(
        "times a job that was running when the service died (a crash, an out-of-memory kill) is run again; then it "
        "fails with an error result and its input is kept, so one poison input cannot stop the service for good"))


class HttpConfig(_Section):
    enabled: bool = Field(False, description="serve POST /ocr (PaddleOCR serving API)")
    host: str = Field("127.0.0.1", description="listen address (127.0.0.1: this machine only)")
    port: int = Field(8080, ge=1, le=65535, description="listen port")
    token: SecretStr | None = Field(None, description="require 'Authorization: token <this>' (403 otherwise)")
    max_pages: int | None = Field(10, ge=1, description="PDF pages read per request (null: no limit but max_pdf_pages)")
    daily_page_quota: int | None = Field(None, ge=1, description="pages per UTC day before requests get 429")
    allow_urls: bool = Field(False, description="accept `file` as an http(s) URL (fetched by the device)")
    url_allow_hosts: list[str] = Field(default_factory=list, description="hosts URLs may point to (required with allow_urls)")
    request_timeout_seconds: float = Field(300, gt=0, description="answer 504 when the job has not finished by then")
    read_timeout_seconds: float = Field(30, gt=0, description="answer 408 when a request body takes longer to arrive")
    header_timeout_seconds: float = Field(10, gt=0, description="close a connection whose request headers take longer")
    max_connections: int = Field(64, ge=1, le=10000, description=(
        "requests handled at once; more are answered 503 at once (slow clients cannot use up the file descriptors)"))
    visualize: bool = Field(True, description=(
        "default of the request's `visualize` (PaddleX's Serving.visualize): answers carry ocrImage, inputImage, "
        "docPreprocessingImage unless the request says false"))
    return_urls: bool = Field(False, description=(
        "answer images as URLs served by this device (GET /files/...) instead of base64, as PaddleX's "
        "Serving.return_urls with a file storage; each URL holds an unguessable key"))
    url_expires_seconds: int = Field(3600, ge=60, description="images behind returned URLs are deleted after this")


def _hostname() -> str:
    return socket.gethostname().split(".")[0] or "edge"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True)

    profile: str | None = Field(None, description="device profile name or .toml path; unset = detect")
    state_dir: Path = Field(Path("state"), description="job journal (SQLite) and service state")
    models_dir: Path | None = Field(None, description="folder with manifest.toml and build/ (default: models_mobile)")
    device_id: str = Field(default_factory=_hostname, description="names this box in topics and results")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    folder: FolderConfig = FolderConfig()
    results: ResultsConfig = ResultsConfig()
    mqtt: MqttConfig = MqttConfig()
    http: HttpConfig = HttpConfig()
    ocr: OcrOptions = Field(OcrOptions(), description="pipeline options for every job (edge.options.OcrOptions)")
    limits: LimitsConfig = LimitsConfig()

    @field_validator("device_id")
    @classmethod
    def _topic_safe(cls, v: str) -> str:
        if not v or any(c in v for c in "+#/"):
            raise ValueError("device_id must be non-empty and contain none of + # /")
        return v

    @property
    def topic_prefix(self) -> str:
        return (self.mqtt.topic_prefix or f"edge-ocr/{self.device_id}").rstrip("/")

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"edge-ocr-{self.device_id}"

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)  # the environment overrides the file (passed as init data)

    def masked(self) -> dict[str, Any]:
        """The effective configuration for display, secrets masked."""
        data = self.model_dump(mode="json")
        if data["mqtt"]["password"]:
            data["mqtt"]["password"] = "********"
        return data


def _check_env(environ) -> None:
    known = {name.upper() for name in Settings.model_fields}
    for key in environ:
        if not key.startswith(ENV_PREFIX):
            continue
        rest = key[len(ENV_PREFIX):]
        top = rest.split("__", 1)[0]
        if rest in OTHER_ENV or top in known:
            continue
        raise ConfigError(f"unknown environment variable {key}",
                          hint=f"settings are {', '.join(sorted(known))} (sections as EDGE_OCR_<SECTION>__<KEY>)")


def load_settings(path: Path | str | None = None) -> Settings:
    path = path or os.environ.get("EDGE_OCR_CONFIG")
    data = read_toml(path, "config file") if path else {}
    _check_env(os.environ)
    try:
        return Settings(**data)
    except ValidationError as e:
        where = f"config file {path}" if path else "configuration"
        raise ConfigError(f"{where} is invalid:\n{describe(e)}",
                          hint="fix or remove the named keys; `edge-ocr config check` shows every key") from None
