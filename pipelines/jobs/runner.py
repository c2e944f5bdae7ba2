"""Every write started from the UI — a load, a re-analysis, a countermeasure entered on the 再発 page,
the record of a file the upload page refused — runs here: a child process per job, its progress and outcome in a JSON file.

Long work never runs inside the Streamlit server (multi-threaded; forking worker pools there can
deadlock, and a crash would take every session down). The child runs the same pipeline as the CLI
and finishes even if the user leaves the page. Progress goes to a file because the store itself
is locked for writing while the load runs.

Uploads (the raw files, personal data in clear) live in uploads_dir() only until their job ends:
the job deletes them, loaded or refused. One the page saved but never loaded (the page was left)
is deleted by the next job that starts or ends once it is older than $KAKEHASHI_UPLOAD_MAX_AGE
minutes (default 60).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipelines.analysis.analyze import analyze
from pipelines.ingest import countermeasures
from pipelines.ingest.load import LoadOptions, load_file
from pipelines.ingest.refusals import Refusal, record_refusal
from pipelines.ingest.result import LoadResult
from pipelines.reports import inferred
from pipelines.rules.themes.packs import SAMPLE_PACK
from pipelines.store import access, audit, db, journal, labels
from pipelines.store.errors import KakehashiError, store_fault
from pipelines.store.settings import DEFAULT_DB, PROJECT_DIR, SAMPLE_DIR, SAMPLE_FILES, db_path, jobs_dir


@dataclass
class JobSpec:
    files: list[str]
    display_names: list[str]
    kinds: list[str]                      # cases / events / countermeasures, one per file
    mapping: dict | str | None = None
    save_mapping_as: str | None = None
    store: str = ""
    analyze_only: bool = False            # no files: re-run the (incremental) analysis, e.g. after a rules edit
    countermeasure: dict | None = None    # no files: record this entry (record_countermeasure's fields, ISO date)
    refusal: dict | None = None           # one file the page refused: record it (Refusal's fields but the name)
    label: dict | None = None             # no files: store this desk label (record_label's fields)
    theme_pack: str | None = None         # analyze with this industry pack and store the choice (None: keep it)
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


def job_file(store: Path, job_id: str) -> Path:
    return jobs_dir(store) / f"{job_id}.json"


def uploads_dir(store: Path | str | None = None) -> Path:
    """Where the upload page keeps a file until its job ends (never longer: see the module doc)."""
    return jobs_dir(db_path(store)) / "uploads"


def upload_max_age_seconds() -> float:
    """How long an upload that was never loaded may stay: $KAKEHASHI_UPLOAD_MAX_AGE minutes, default 60."""
    value = os.environ.get("KAKEHASHI_UPLOAD_MAX_AGE", "60")
    try:
        return max(float(value), 0.0) * 60
    except ValueError:
        raise ValueError(f"KAKEHASHI_UPLOAD_MAX_AGE={value!r}: give minutes, e.g. KAKEHASHI_UPLOAD_MAX_AGE=30") from None


def discard_uploads(spec: JobSpec) -> list[Path]:
    """Delete the job's files that are uploads (a file given on the CLI or from elsewhere is the
    user's and stays), and any upload older than the retention; returns what was deleted."""
    folder = uploads_dir(spec.store or None).resolve()
    gone = []
    for file in map(Path, spec.files):
        if file.resolve().parent == folder and file.exists():
            file.unlink(missing_ok=True)
            gone.append(file)
    return gone + sweep_uploads(spec.store or None)


def sweep_uploads(store: Path | str | None = None) -> list[Path]:
    """Delete the uploads of jobs whose process was killed, and those older than the retention
    (saved by the page, never loaded)."""
    folder = uploads_dir(store)
    if not folder.exists():
        return []
    gone = []
    for state in recent(db_path(store), limit=100):
        if state.get("status") in ("queued", "running") and state.get("pid") and not _pid_alive(state["pid"]):
            for file in map(Path, state.get("spec", {}).get("files", [])):
                if file.parent.resolve() == folder.resolve() and file.exists():
                    file.unlink(missing_ok=True)
                    gone.append(file)
    limit = time.time() - upload_max_age_seconds()
    for file in folder.iterdir():
        try:
            if file.is_file() and file.stat().st_mtime < limit:
                file.unlink()
                gone.append(file)
        except OSError:
            continue
    return gone


def start(spec: JobSpec, *, actor: access.Actor) -> str:
    """Load the spec's files in a detached child process; returns the job id. The actor needs the
    role that loads (access.AccessDenied otherwise), and each file goes into the audit trail."""
    access.require(actor, access.LOAD)
    job_id = _spawn(spec)
    for name, kind in zip(spec.display_names, spec.kinds):
        audit.record(spec.store, actor, audit.LOAD, name, {"kind": kind, "job": job_id})
    return job_id


def _spawn(spec: JobSpec) -> str:
    store = db_path(spec.store or None)
    spec.store = str(store)
    folder = jobs_dir(store)
    folder.mkdir(parents=True, exist_ok=True)
    sweep_uploads(store)
    path = job_file(store, spec.job_id)
    _write(path, {"spec": asdict(spec), "status": "queued", "phase": "待機中", "done": 0, "total": 0,
                  "created_at": dt.datetime.now().isoformat(timespec="seconds"), "results": [], "errors": []})
    log = (folder / f"{spec.job_id}.log").open("w", encoding="utf-8")
    subprocess.Popen([sys.executable, "-m", "pipelines", "job", str(path)], cwd=PROJECT_DIR, stdout=log, stderr=log,
                     stdin=subprocess.DEVNULL, start_new_session=True, env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)})
    return spec.job_id


def _write(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)  # atomic, so the page never reads half a file


def read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def recent(store: Path | None = None, limit: int = 20) -> list[dict]:
    """Jobs of this store, newest first, with a dead 'running' job reported as interrupted."""
    folder = jobs_dir(db_path(store))
    if not folder.exists():
        return []
    states = []
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)[:limit]:
        state = read(path)
        if state is None:
            continue
        if state.get("status") in ("queued", "running") and not _pid_alive(state.get("pid")) and \
                time.time() - path.stat().st_mtime > 10:
            state["status"] = "interrupted"
        states.append(state)
    return states


def _pid_alive(pid: int | None) -> bool:
    return journal.pid_alive(pid)


PHASES = {"decode": "ファイルを読み込み中", "tokenize": "形態素解析・個人情報マスキング・テキスト分析中", "analyze": "テーマ・原因・感情の分析中"}


def run(path: Path) -> int:
    """Entry point of the child process (python -m pipelines job FILE)."""

    state = read(path) or {}
    spec = JobSpec(**state["spec"])
    state.update(status="running", pid=os.getpid(), started_at=dt.datetime.now().isoformat(timespec="seconds"))
    _write(path, state)
    try:
        if spec.countermeasure is not None:
            return _run_countermeasure(path, state, spec)
        if spec.refusal is not None:
            return _run_refusal(path, state, spec)
        if spec.label is not None:
            return _run_label(path, state, spec)
        return _run_load(path, state, spec)
    finally:
        discard_uploads(spec)   # loaded, refused or failed: the raw file is not kept


def _message_ja(exc: Exception) -> str:
    """What the page says of a job's failure: the error's own words, a store fault's, or 予期しないエラー."""
    fault = store_fault(exc)
    return fault.message_ja() if fault is not None else f"予期しないエラー: {exc}"


def _run_load(path: Path, state: dict, spec: JobSpec) -> int:
    """Child side of a load (or of a re-analysis alone)."""
    last = [0.0]

    def progress(phase: str, done: int, total: int) -> None:
        if time.monotonic() - last[0] < 0.5 and done < total:
            return
        last[0] = time.monotonic()
        state.update(phase=PHASES.get(phase, phase), done=done, total=total)
        _write(path, state)

    for file, name, kind in zip(spec.files, spec.display_names, spec.kinds):
        state.update(phase=f"{name} を読み込み中", done=0, total=0, current=name)
        _write(path, state)
        try:
            options = LoadOptions(kind=kind, mapping=spec.mapping, display_name=name, progress=progress,
                                  save_mapping_as=spec.save_mapping_as)
            result = load_file(Path(file), spec.store, options)
            state["results"].append(result_fields(result, name, kind))
        except KakehashiError as exc:
            state["errors"].append({"file": name, "kind": kind, "message": exc.message_ja()})
        except Exception as exc:  # the page must learn of any failure, not find a dead job
            state["errors"].append({"file": name, "kind": kind, "message": _message_ja(exc)})
    if spec.analyze_only or state["results"] and any(r["kind"] == "cases" for r in state["results"]):
        # The upload page runs the analysis after a load, in the same child process.
        state.update(phase="テキスト分析中", done=0, total=0)
        _write(path, state)
        try:
            analysed = analyze(spec.store, progress=progress, theme_pack=spec.theme_pack)
            state["analysis"] = {"analysed": analysed.analysed, "coverage": analysed.coverage}
        except Exception as exc:  # the load itself succeeded; say what did not
            reason = exc.message_ja() if isinstance(exc, KakehashiError) else _message_ja(exc)
            state["errors"].append({"file": "テキスト分析", "kind": "analyze", "message": f"分析に失敗しました: {reason}"})
    state.update(status="failed" if state["errors"] and not state["results"] else "done",
                 phase="完了", finished_at=dt.datetime.now().isoformat(timespec="seconds"))
    _write(path, state)
    return 0 if not state["errors"] else 2


def result_fields(result: LoadResult, name: str, kind: str) -> dict:
    """What the page learns of one load: every field of its LoadResult (the row accounting, and
    whatever else the load reports, such as the case identity it used) but the phase timings,
    under the name the user uploaded."""
    fields = {key: value for key, value in asdict(result).items() if key != "seconds"}
    return {**fields, "file": name, "kind": kind}


def _run_countermeasure(path: Path, state: dict, spec: JobSpec) -> int:
    """Child side of record_countermeasure: write the entry through the one writer path."""
    entry = spec.countermeasure
    try:
        inserted = countermeasures.record_countermeasure(
            dt.date.fromisoformat(entry["implemented_on"]), entry["target"], entry.get("department"),
            entry.get("description"), store=spec.store, mask=False)
        state["results"].append({"file": spec.display_names[0], "kind": "countermeasure", "inserted": inserted})
    except KakehashiError as exc:
        state["errors"].append({"file": spec.display_names[0], "kind": "countermeasure", "message": exc.message_ja(),
                                "error": {"code": exc.code, "ja": exc.ja, "en": exc.en, "hint_ja": exc.hint_ja,
                                          "hint_en": exc.hint_en}})
    except Exception as exc:  # the page must learn of any failure, not find a dead job
        state["errors"].append({"file": spec.display_names[0], "kind": "countermeasure",
                                "message": f"予期しないエラー: {exc}"})
    state.update(status="failed" if state["errors"] else "done", phase="完了",
                 finished_at=dt.datetime.now().isoformat(timespec="seconds"))
    _write(path, state)
    return 0 if not state["errors"] else 2


def _run_refusal(path: Path, state: dict, spec: JobSpec) -> int:
    """Child side of start_refusal_record: one 'refused' row in import_batches."""
    name, kind = spec.display_names[0], spec.kinds[0]
    try:
        batch_id = record_refusal(spec.files[0], Refusal(file_name=name, kind=kind, **spec.refusal), spec.store,
                                  dt.datetime.fromisoformat(state["created_at"]))
        state["results"].append({"file": name, "kind": "refusal", "batch_id": batch_id,
                                 "message": spec.refusal["message"]})
    except Exception as exc:  # the page must learn of any failure, not find a dead job
        reason = exc.message_ja() if isinstance(exc, KakehashiError) else _message_ja(exc)
        # The store cannot take the row (busy, full, read-only, damaged): the journal keeps the
        # refusal, 取り込み履歴 shows it, and the next write adds it to the store.
        started = dt.datetime.fromisoformat(state["created_at"])
        attempt = journal.begin(db_path(spec.store), name, kind, started,
                                Path(spec.files[0]).stat().st_size if Path(spec.files[0]).exists() else None)
        journal.end(db_path(spec.store), attempt, "refused", spec.refusal["message"])
        state["errors"].append({"file": name, "kind": "refusal",
                                "message": f"データファイルに記録できなかったため、別の記録に残しました: {reason}"})
    state.update(status="failed" if state["errors"] else "done", phase="完了",
                 finished_at=dt.datetime.now().isoformat(timespec="seconds"))
    _write(path, state)
    return 0 if not state["errors"] else 2


def start_refusal_record(file: Path | str, display_name: str, kind: str, message: str,
                         source_format: tuple[str, str, str] | None = None, store: Path | str | None = None,
                         *, actor: access.Actor) -> str:
    """Record in 取り込み履歴 that the upload page refused `file`, in a child process; returns the job id.

    `message` is the Japanese reason the page showed; `source_format` (encoding, format, delimiter)
    when the file could be read and only its columns were refused. Not waited for: the page has
    already told the user, and the history shows the row as soon as the child has written it."""
    encoding, file_format, delimiter = source_format or (None, None, None)
    refusal = {"message": message, "encoding": encoding, "file_format": file_format, "delimiter": delimiter}
    access.require(actor, access.LOAD)
    audit.record(store, actor, audit.LOAD, display_name, {"kind": kind, "refused": message})
    return _spawn(JobSpec(files=[str(file)], display_names=[display_name], kinds=[kind], store=str(db_path(store)),
                          refusal=refusal))


def record_countermeasure(implemented_on: dt.date | None, target: str | None, department: str | None,
                          description: str | None, store: Path | str | None = None, timeout: float = 180.0,
                          *, actor: access.Actor) -> bool:
    """Record one countermeasure entered on the 再発 page as a job, and wait for it; True when it was new.

    The Streamlit server reads the store from many threads; a write from inside it would make
    DuckDB refuse those readers ("different configuration"), whereas a write from another process
    shows them the ordinary lock, which they wait out or report as 更新中. Bad input raises the
    KakehashiError of countermeasures.checked_entry before any process is started; a user without
    the lead's role, access.AccessDenied.
    """
    access.require(actor, access.RECORD_COUNTERMEASURE)
    implemented_on, target, department, description = countermeasures.checked_entry(
        implemented_on, target, department, description)
    # Masked here, where the tokenizer is already loaded, so the child only writes.
    entry = {"implemented_on": implemented_on.isoformat(), "target": target, "department": department,
             "description": countermeasures.mask_description(description)}
    store = db_path(store)
    job_id = _spawn(JobSpec(files=[], display_names=[f"再発防止策: {target}"], kinds=[], store=str(store),
                            countermeasure=entry))
    deadline = time.monotonic() + timeout
    while (state := read(job_file(store, job_id)) or {}).get("status") not in ("done", "failed"):
        if time.monotonic() > deadline:
            raise KakehashiError("countermeasure_write", "データの更新が長引いているため、再発防止策を保存できませんでした。",
                                 f"Recording the countermeasure timed out after {timeout:.0f} s.",
                                 "取り込みや分析が終わってから、もう一度「登録する」を押してください。",
                                 "Wait for the running load or analysis to finish, then try again.")
        time.sleep(0.1)
    if state["results"]:
        inserted = bool(state["results"][0]["inserted"])
        audit.record(store, actor, audit.RECORD_COUNTERMEASURE, target,
                     {**entry, "inserted": inserted, "job": job_id})
        return inserted
    error = state["errors"][0] if state["errors"] else {}
    detail = error.get("error") or {}
    raise KakehashiError(detail.get("code", "countermeasure_write"),
                         detail.get("ja", error.get("message", "再発防止策を保存できませんでした。")),
                         detail.get("en", f"Recording the countermeasure failed: {error.get('message', '')}"),
                         detail.get("hint_ja", "しばらくしてから再度お試しください。取り込み中のときは終わるまでお待ちください。"),
                         detail.get("hint_en", "Try again; check the store is not being loaded."))


def start_analyze(store: Path | str | None = None, label: str = "テーマ辞書の変更を反映", *, actor: access.Actor,
                  theme_pack: str | None = None) -> str:
    """Re-tag the store in a child process (after a rules edit: the rules hash changed, so analyze
    redoes every case from stored terms, without tokenizing); returns the job id. Needs the role
    that edits the rules. `theme_pack` chooses the store's industry pack (rules.themes.packs) first."""
    access.require(actor, access.EDIT_RULES)
    job_id = _spawn(JobSpec(files=[], display_names=[label], kinds=[], store=str(db_path(store)), analyze_only=True,
                            theme_pack=theme_pack))
    audit.record(store, actor, audit.EDIT_RULES, label,
                 {"job": job_id, "reanalysis": True, **({"theme_pack": theme_pack} if theme_pack is not None else {})})
    return job_id


def start_sample_autoload() -> str | None:
    """Load the bundled sample into the default store once; a second caller gets None."""
    folder = jobs_dir(DEFAULT_DB)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "sample-autoload"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return None
    present = [(SAMPLE_DIR / name, kind) for name, kind in SAMPLE_FILES if (SAMPLE_DIR / name).exists()]
    spec = JobSpec(files=[str(p) for p, _ in present], display_names=[f"サンプル: {p.name}" for p, _ in present],
                   kinds=[k for _, k in present], store=str(DEFAULT_DB), job_id="sample-autoload",
                   theme_pack=SAMPLE_PACK)   # the sample is a food and beverage maker's desk
    job_id = _spawn(spec)   # the app's own first start, not a user's write
    os.write(fd, job_id.encode())
    os.close(fd)
    return job_id


# ---------------------------------------------------------------- labels from the desk, inferred themes

def record_label(case_id: str, themes: list[str] | tuple[str, ...], negative: bool, anger: int | None,
                 known_themes, store: Path | str | None = None, timeout: float = 60.0,
                 *, actor: access.Actor) -> labels.Label:
    """Store a lead's label of one case as a job and wait for it (a write from inside the Streamlit
    server would make DuckDB refuse its readers: see record_countermeasure). access.AccessDenied
    without the lead's role, labels.LabelError for a bad label or a case no longer there, before or
    after the child ran; recorded in the audit trail."""
    access.require(actor, access.LABEL_CASES)
    label = labels.checked_label(case_id, themes, negative, anger, known_themes)
    store = db_path(store)
    entry = {"case_id": label.case_id, "themes": list(label.themes), "negative": label.negative,
             "anger": label.anger, "user_id": actor.user_id}
    job_id = _spawn(JobSpec(files=[], display_names=[f"ラベル: {label.case_id}"], kinds=[], store=str(store),
                            label=entry))
    deadline = time.monotonic() + timeout
    while (state := read(job_file(store, job_id)) or {}).get("status") not in ("done", "failed"):
        if time.monotonic() > deadline:
            raise labels.LabelError("label_write", "データの更新が長引いているため、ラベルを保存できませんでした。",
                                    f"Storing the label timed out after {timeout:.0f} s.",
                                    "取り込みや分析が終わってから、もう一度保存してください。",
                                    "Wait for the running load or analysis to finish, then try again.")
        time.sleep(0.1)
    if state["results"]:
        audit.record(store, actor, audit.LABEL_CASE, label.case_id, {**entry, "job": job_id})
        return labels.case_label(label.case_id, store) or label
    error = state["errors"][0] if state["errors"] else {}
    detail = error.get("error") or {}
    raise labels.LabelError(detail.get("code", "label_write"), detail.get("ja", error.get("message", "ラベルを保存できませんでした。")),
                            detail.get("en", f"Storing the label failed: {error.get('message', '')}"),
                            detail.get("hint_ja", "しばらくしてから再度お試しください。"), detail.get("hint_en", "Try again."))


def _run_label(path: Path, state: dict, spec: JobSpec) -> int:
    """Child side of record_label: write the label through the one writer path."""
    entry = spec.label
    name = spec.display_names[0]
    try:
        with db.writer(spec.store) as con:
            labels.write_label(con, labels.Label(entry["case_id"], tuple(entry["themes"]), entry["negative"],
                                                 entry["anger"]), entry["user_id"])
        state["results"].append({"file": name, "kind": "label", "case_id": entry["case_id"]})
    except KakehashiError as exc:
        state["errors"].append({"file": name, "kind": "label", "message": exc.message_ja(),
                                "error": {"code": exc.code, "ja": exc.ja, "en": exc.en, "hint_ja": exc.hint_ja,
                                          "hint_en": exc.hint_en}})
    except Exception as exc:  # the page must learn of any failure, not find a dead job
        state["errors"].append({"file": name, "kind": "label", "message": _message_ja(exc)})
    state.update(status="failed" if state["errors"] else "done", phase="完了",
                 finished_at=dt.datetime.now().isoformat(timespec="seconds"))
    _write(path, state)
    return 0 if not state["errors"] else 2


def accept_inferred(theme_id: str, words: list[str] | tuple[str, ...], store: Path | str | None = None,
                    path: Path | str | None = None, *, actor: access.Actor) -> str:
    """Accept an inferred theme's driving words into the theme's rule (reports.inferred.accept_inferred:
    the lead's role checked, the rules file written, the audit trail) and re-tag the store in a child
    process, as after any rule edit; returns the job id. `path`: the rules file (default: the one in use)."""
    inferred.accept_inferred(theme_id, words, actor=actor, store=store, path=path)
    return start_analyze(store, label=f"推定テーマの語をルールに追加: {theme_id}", actor=actor)
