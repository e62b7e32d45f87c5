"""``hadath``: the command line of the pipeline (infra, services, feed, status, search, demo, NER)."""

from __future__ import annotations

import json
import re
import sys
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from shared.settings import Settings, env_name

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
DEMO_QUERY = "بغداد"

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Hadath: Arabic news → searchable events.")
infra_app = typer.Typer(no_args_is_help=True, help="Local Kafka and Elasticsearch (java processes).")
services_app = typer.Typer(no_args_is_help=True, help="The five Faust services as background processes.")
app.add_typer(infra_app, name="infra")
app.add_typer(services_app, name="services")
console = Console(stderr=True)
out = Console()


def _settings() -> Settings:
    """Settings from the environment; a bad ``HADATH_*`` value is one clear line, exit 2."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        from shared.settings import env_name

        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            name = env_name(field) if field in Settings.model_fields else field
            console.print(f"[red]{name}={err.get('input')!r}: {err['msg']}[/red]")
        raise typer.Exit(2)


@infra_app.command("up")
def infra_up(timeout_seconds: float = typer.Option(900, help="How long to wait for both servers.")) -> None:
    """Assemble (first run) and start Kafka and Elasticsearch; wait until both answer."""
    from hadath import infra

    try:
        infra.up(_settings(), timeout_seconds=timeout_seconds, progress=console.print)
    except RuntimeError as exc:
        console.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(1)
    console.print("[green]Kafka and Elasticsearch are up[/green]")


@infra_app.command("down")
def infra_down() -> None:
    """Stop the local Kafka and Elasticsearch."""
    from hadath import infra

    settings = _settings()
    before = infra.status(settings)
    infra.down(settings)
    for name, st in before.items():
        if st.get("pid"):
            console.print(f"{name}: stopped (pid {st['pid']})")
        elif st.get("running"):
            console.print(f"[yellow]{name}: answers at {st['address']} but was not started from "
                          f"{env_name('home')}={settings.home}; left running[/yellow]")
        else:
            console.print(f"{name}: was not running")


@infra_app.command("wipe")
def infra_wipe(yes: bool = typer.Option(False, "--yes", help="do not ask")) -> None:
    """Stop Kafka and Elasticsearch and DELETE their data (topics, offsets, indices); keeps downloads."""
    from hadath import infra

    settings = _settings()
    if not yes and not typer.confirm(f"Delete all topics and indices under {settings.home}?"):
        raise typer.Exit(1)
    infra.wipe(settings)
    console.print("Kafka and Elasticsearch stopped and their data deleted; `hadath infra up` starts them empty")


@infra_app.command("status")
def infra_status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Whether the local Kafka and Elasticsearch run and answer."""
    from hadath import infra

    st = infra.status(_settings())
    if as_json:
        out.print_json(data=st)
        return
    security = {True: " (security on)", False: " (security OFF: anonymous requests answered)"}
    for name, s in st.items():
        out.print(f"{name}: {'running' if s.get('running') else 'stopped'} {s.get('address', '')} {s.get('version', '')}"
                  f"{security.get(s.get('security'), '')}")
    if not all(s.get("running") for s in st.values()):
        raise typer.Exit(1)


@services_app.command("up")
def services_up(extract_workers: Optional[int] = typer.Option(
        None, "--extract-workers", min=1, help="Extract worker processes (default: one per core, at most 4).")) -> None:
    """Start ingest, normalize, N extract workers, events and index (wait until they joined their
    groups) and the search page (HADATH_WEB_PORT, default http://127.0.0.1:8080/)."""
    from hadath import processes

    processes.up(_settings(), extract_workers=_extract_workers(extract_workers), web=True, progress=console.print)


def _extract_workers(asked: int | None) -> int:
    """``asked``, or the default from the cores (:func:`hadath.processes.default_extract_workers`),
    saying which it chose."""
    from hadath import processes

    if asked is not None:
        console.print(f"extract workers: {asked} (--extract-workers)")
        return asked
    n, cores = processes.default_extract_workers()
    console.print(f"extract workers: {n} (one per core: {cores} core{'s' if cores != 1 else ''}, at most "
                  f"{processes.MAX_DEFAULT_EXTRACT_WORKERS}; --extract-workers N to choose)")
    return n


@services_app.command("down")
def services_down() -> None:
    """Stop the services."""
    from hadath import processes

    processes.down(_settings(), progress=console.print)


@services_app.command("status")
def services_status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Which service processes run (pid, log file)."""
    from hadath import processes

    st = processes.status(_settings())
    if as_json:
        out.print_json(data=st)
        return
    if not st:
        out.print("no service has been started (hadath services up starts them)")
    for name, s in st.items():
        out.print(f"{name:12} {'running' if s['running'] else 'STOPPED':8} pid {s['pid']}  log {s['log']}"
                  f"  metrics {s['metrics_url']}")


def _feed(paths: list[Path], source: str | None):
    from hadath.feed import feed

    from hadath.feed import count_records

    with Progress(TextColumn("feeding"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("", total=count_records(paths))
        report = feed(paths, _settings(), source=source,
                      on_record=lambda rec: bar.update(task, advance=1, description=rec.origin[-60:]))
    return report


@app.command("feed")
def feed_cmd(paths: Annotated[list[Path], typer.Argument(help="JSON Lines or JSON (Hadath, news-please, trafilatura), RSS/Atom (.xml .rss .atom, or file:// URLs), text or HTML files, or folders.")],
             source: Annotated[Optional[str], typer.Option(help="source name for text/HTML files")] = None) -> None:
    """Send articles to articles.raw, with a progress bar; prints how many were sent and refused."""
    try:
        report = _feed(paths, source)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    for name, fmt in report.formats.items():
        out.print(f"{name}: read as {fmt}")
    for reason in report.reasons:
        console.print(f"[yellow]refused[/yellow] {reason}")
    out.print(f"sent {report.sent}, refused {report.refused}")
    if report.refused:
        raise typer.Exit(1)


@app.command("status")
def status_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Per topic end offsets, per service consumer-group lag and last-minute throughput (from the
    services' metrics), article and event counts, dead-letter count."""
    with _friendly_errors(_settings()):
        st = _pipeline_status()
    if as_json:
        out.print_json(data=st)
        return
    table = Table("service", "consumes", "group", "members", "committed", "lag",
                  "in (last min)", "msg/s", "max lag (last min)")
    for name, g in st["groups"].items():
        a = st["activity"].get(name)
        table.add_row(name, g["topic"], g["group"], str(g["members"]), str(g["committed"]), str(g["lag"]),
                      *((str(a["in_last_minute"]), f"{a['in_per_second']:.2f}", str(a["lag_max_last_minute"]))
                        if a else ("-", "-", "-")))
    out.print(table)
    topics = Table("topic", "partitions", "messages (end offset)")
    for name, t in st["topics"].items():
        topics.add_row(name, str(t["partitions"]), str(t["end_offset"]))
    out.print(topics)
    out.print(f"index {st['index']['alias']}: {st['index']['count']} documents; events "
              f"{st['events']['alias']}: {st['events']['count']} events; dead letters: {st['deadletter']}")


def _pipeline_status() -> dict:
    from shared.es import client
    from hadath.kafka_admin import pipeline_status
    from shared.topics import Topics

    settings = _settings()
    st = pipeline_status(settings)
    es = client(settings)
    count = None
    if es.indices.exists_alias(name=settings.index_alias):
        count = es.count(index=settings.index_alias)["count"]
    st["index"] = {"alias": settings.index_alias, "count": count}
    events = None
    if es.indices.exists_alias(name=settings.events_alias):
        events = es.count(index=settings.events_alias,
                          query={"bool": {"must_not": [{"exists": {"field": "merged_into"}}]}})["count"]
    st["events"] = {"alias": settings.events_alias, "count": events}
    st["deadletter"] = st["topics"][Topics.from_settings(settings).deadletter]["end_offset"]
    from hadath.processes import recent_activity

    st["activity"] = recent_activity(settings)
    return st


alerts_app = typer.Typer(no_args_is_help=True, help="Saved searches matched against every new article (percolator).")
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("add")
def alerts_add(name: Annotated[str, typer.Argument(help="the alert's name (adding it again replaces it)")],
               query: Annotated[Optional[str], typer.Argument(help="words every matching article has, as in hadath search")] = None,
               entity: Annotated[Optional[list[str]], typer.Option("--entity", help="LABEL:VALUE, e.g. LOC:بغداد (repeatable)")] = None,
               webhook: Annotated[Optional[str], typer.Option(help="URL POSTed each match's JSON")] = None) -> None:
    """Save an alert: every article indexed from now on that matches it is a record on articles.alerts."""
    from shared.alerts import add_alert
    from shared.es import client

    settings = _settings()
    with _friendly_errors(settings):
        try:
            alert = add_alert(client(settings), settings, name, query, entity or [], webhook)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2)
    out.print(f"alert {alert['name']} saved (query {alert['query']!r}, entities {alert['entities']}, "
              f"webhook {alert['webhook']})", highlight=False)


@alerts_app.command("list")
def alerts_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """The saved alerts."""
    from shared.alerts import list_alerts
    from shared.es import client

    settings = _settings()
    with _friendly_errors(settings):
        alerts = list_alerts(client(settings), settings)
    if as_json:
        out.print_json(data=alerts)
        return
    if not alerts:
        out.print("no alert saved (hadath alerts add NAME QUERY)")
    for a in alerts:
        out.print(f"{a['name']}: {a['query']!r} {' '.join(a['entities'])} webhook {a['webhook']}", highlight=False)


@alerts_app.command("remove")
def alerts_remove(name: Annotated[str, typer.Argument(help="the alert's name")]) -> None:
    """Delete a saved alert."""
    from shared.alerts import remove_alert
    from shared.es import client

    settings = _settings()
    with _friendly_errors(settings):
        removed = remove_alert(client(settings), settings, name)
    if not removed:
        console.print(f"[red]no alert named {name}[/red]")
        raise typer.Exit(1)
    out.print(f"alert {name} removed")


deadletters_app = typer.Typer(invoke_without_command=True,
                               help="What the services could not process; replay it once fixed.")
app.add_typer(deadletters_app, name="deadletters")


@deadletters_app.callback()
def deadletters_cmd(ctx: typer.Context,
                    limit: int = typer.Option(20, min=1, help="the newest N"),
                    as_json: bool = typer.Option(False, "--json", help="one dead-letter record per line")) -> None:
    """Show what the services could not process: stage, reason, where it came from."""
    if ctx.invoked_subcommand is not None:
        return
    from hadath.kafka_admin import read_dead_letters

    settings = _settings()
    with _friendly_errors(settings):
        records = read_dead_letters(settings, limit=limit)
    if as_json:
        for rec in records:
            sys.stdout.write(rec.model_dump_json() + "\n")
        return
    for rec in records:
        payload = (rec.payload[:100] + "…") if len(rec.payload) > 100 else rec.payload
        out.print(f"[bold]{rec.failed_at:%Y-%m-%d %H:%M:%S}[/bold] {rec.stage} [red]{rec.error_type}[/red] "
                  f"from {rec.topic}[{rec.partition}]@{rec.offset}", highlight=False)
        out.print(f"  reason:  {rec.error_message}", highlight=False, markup=False)
        out.print(f"  payload ({rec.payload_encoding}): {payload}", highlight=False, markup=False)
    out.print(f"{len(records)} dead letters shown (newest last; --json for whole records)")


@deadletters_app.command("replay")
def deadletters_replay(
    stage: Annotated[Optional[list[str]], typer.Option("--stage", help="only this stage (repeatable): "
                                                       "feed, ingest, normalize, extract, index")] = None,
    error_type: Annotated[Optional[list[str]], typer.Option("--error-type", help="only this error_type "
                                                            "(repeatable), e.g. schema")] = None,
    since: Annotated[Optional[str], typer.Option(help="failed at or after: ISO 8601 (UTC when no offset) "
                                                 "or an age such as 30m, 2h, 1d")] = None,
    dry_run: bool = typer.Option(False, "--dry-run", help="send nothing; print what would be sent"),
) -> None:
    """Send the chosen dead letters' original messages back to the topic their stage reads.

    ingest → articles.raw, normalize → articles.ingested, extract → articles.normalized,
    index → articles.enriched, feed → articles.raw. Reads the whole dead-letter topic; every
    replayed record carries the header hadath-replay-of: topic/partition/offset.
    """
    from hadath import replay
    from hadath.kafka_admin import read_dead_letter_values, send_records
    from shared.topics import Topics

    try:
        stages = replay.check_stages(stage or [])
        since_at = replay.parse_since(since) if since else None
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    settings = _settings()
    with _friendly_errors(settings):
        try:
            values = read_dead_letter_values(settings)
        except TimeoutError as exc:
            console.print(f"[red]{exc}[/red]: nothing sent")
            raise typer.Exit(3)
        dead, unreadable = replay.parse_dead_letters(values)
        records, refused = replay.to_records(replay.select(dead, stages, error_type or [], since_at),
                                             Topics.from_settings(settings))
        if not dry_run:
            send_records(settings, records)
    _print_replay(records, dry_run=dry_run, read=len(dead), unreadable=unreadable)
    for dl, reason in refused:
        console.print("[yellow]not replayed[/yellow] "
                      + escape(f"{dl.stage} {dl.error_type} from {replay.origin(dl)}: {reason}"), highlight=False)
    if refused:
        raise typer.Exit(1)


def _print_replay(records: list, *, dry_run: bool, read: int, unreadable: int) -> None:
    """The replay's table (one row per record: stage, error_type, origin, target) and its
    count per stage and target topic."""
    from hadath import replay

    verb = "would replay" if dry_run else "replayed"
    table = Table(*(Column(name, overflow="fold") for name in
                    ("stage", "error_type", "failed at (UTC)", "from topic/partition/offset", "to topic")),
                  title=f"{verb} {len(records)} of {read} dead letters")
    for r in records:
        dl = r.dead_letter
        table.add_row(dl.stage, dl.error_type, f"{replay.failed_at_utc(dl):%Y-%m-%d %H:%M:%S}",
                      replay.origin(dl), r.topic)
    out.print(table)
    for (stage, topic), n in replay.counts(records).items():
        out.print(f"{verb} {n} {stage} → {topic}", highlight=False)
    if unreadable:
        console.print(f"[yellow]{unreadable} records on the dead-letter topic are not dead letters; skipped[/yellow]")
    if dry_run:
        out.print("dry run: nothing sent")


@app.command("search")
def search_cmd(
    query: Annotated[Optional[str], typer.Argument(help="words to find (any Arabic spelling)")] = None,
    entity: Annotated[Optional[list[str]], typer.Option("--entity", help="LABEL:VALUE, e.g. LOC:بغداد (repeatable)")] = None,
    source: Annotated[Optional[list[str]], typer.Option("--source", help="only this source (repeatable)")] = None,
    topic: Annotated[Optional[list[str]], typer.Option("--topic", help="only this predicted topic, e.g. sport (repeatable)")] = None,
    since: Annotated[Optional[str], typer.Option(help="published on or after this: YYYY-MM-DD, ISO 8601 or an age (2h, 7d)")] = None,
    until: Annotated[Optional[str], typer.Option(help="published on or before this: YYYY-MM-DD, ISO 8601 or an age")] = None,
    collapse: bool = typer.Option(False, "--collapse-duplicates", help="show each near-duplicate story once"),
    group_by_event: bool = typer.Option(False, "--group-by-event",
                                        help="one hit per event (its best article), with the event's outlet count"),
    size: int = typer.Option(10, min=0, max=1000),
    as_json: bool = typer.Option(False, "--json", help="print the contract's JSON shape"),
) -> None:
    """Full-text search with facets (entities by label, source, topic, month).

    --json hits carry ``event_id``; with --group-by-event also ``event_source_count`` and
    ``event_article_count``, and the result ``total_events``."""
    from hadath.replay import parse_since
    from shared.es import client
    from shared.search import parse_entity_filter, search

    try:
        filters = [parse_entity_filter(spec) for spec in entity or []]
        since_d = _moment(since, "--since", parse_since)
        until_d = _moment(until, "--until", parse_since)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    settings = _settings()
    with _friendly_errors(settings):
        result = search(client(settings), settings, query, entities=filters, sources=source or [],
                        topics=topic or [], since=since_d, until=until_d, collapse_duplicates=collapse,
                        group_by_event=group_by_event, size=size)
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        return
    print_result(result)


@contextmanager
def _friendly_errors(settings: Settings):
    """Turn an unreachable server or a missing index into one line that says what to do."""
    from elasticsearch import ApiError, AuthenticationException, NotFoundError
    from elasticsearch import ConnectionError as ESConnectionError
    from kafka.errors import KafkaError

    from shared.es import CredentialsError, password_file
    from shared.settings import env_name

    try:
        yield
    except CredentialsError as exc:
        console.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(3)
    except AuthenticationException:
        console.print(f"[red]Elasticsearch at {settings.es_url} refused the credentials of {settings.es_user} "
                      f"(401)[/red]: set {env_name('es_password')} to its password (the local one is in "
                      f"{password_file(settings)})", highlight=False)
        raise typer.Exit(3)
    except ESConnectionError:
        console.print(f"[red]Elasticsearch is not reachable at {settings.es_url}[/red]: start it with "
                      f"[bold]hadath infra up[/bold] (or set {env_name('es_url')})")
        raise typer.Exit(3)
    except NotFoundError as exc:
        missing = settings.index_alias
        if isinstance(exc.body, dict) and isinstance(exc.body.get("error"), dict):
            missing = exc.body["error"].get("index") or missing
        console.print(f"[red]no index behind the alias {missing!r} yet[/red]: start the services "
                      "and feed articles ([bold]hadath demo[/bold])")
        raise typer.Exit(3)
    except ApiError as exc:
        console.print(f"[red]Elasticsearch answered {exc.meta.status}: {exc.message}[/red] "
                      "(is it still starting? see hadath infra status)")
        raise typer.Exit(3)
    except KafkaError as exc:
        console.print(f"[red]Kafka is not reachable at {settings.kafka_bootstrap}: {exc}[/red]: start it with "
                      f"[bold]hadath infra up[/bold] (or set {env_name('kafka_bootstrap')})")
        raise typer.Exit(3)


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _moment(text: str | None, flag: str, parse_since) -> date | None:
    """A ``--since``/``--until`` value: a day (``YYYY-MM-DD``), ISO 8601 or an age (``2h``).

    Raises ValueError naming ``flag`` and the forms it takes."""
    if not text:
        return None
    if not _DAY.match(text):
        return parse_since(text, flag=flag)
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{flag} {text!r}: {exc} (give YYYY-MM-DD, ISO 8601 or an age such as 2h, 7d)") from None


def print_result(result: dict) -> None:
    """Print hits and facets as tables."""
    grouped = "total_events" in result
    if grouped:
        out.print(f"[bold]{result['total']}[/bold] documents in [bold]{result['total_events']}[/bold] events "
                  "(one hit per event)")
    else:
        out.print(f"[bold]{result['total']}[/bold] documents")
    columns: list = ["score", "title", "source", "published", "entities"]
    if grouped:  # the event id sits under the title, the event's outlet count under the source
        columns = ["score", Column("title (event id)", ratio=4, overflow="fold"), Column("source (outlets)", ratio=2),
                   "published", Column("entities", ratio=3)]
    hits = Table(*columns)
    for h in result["hits"]:
        names = sorted({f"{e['label']}:{e['text']}" for e in h["entities"]})
        ents = ", ".join(names[:6]) + (f", … (+{len(names) - 6}; --json for all)" if len(names) > 6 else "")
        row = [f"{h['score'] or 0:.2f}", escape(h["title"] or ""), h["source"] or "", (h["published_at"] or "")[:10],
               escape(ents)]
        if grouped:
            n = h.get("event_source_count")
            outlets = "" if n is None else f"\n{n} outlet{'' if n == 1 else 's'}"
            row[1:3] = [f"{row[1]}\n[dim]{h.get('event_id') or '(no event)'}[/dim]", f"{row[2]}{outlets}"]
        hits.add_row(*row)
    out.print(hits)
    for name, buckets in result["facets"].items():
        if buckets:
            out.print(f"[bold]{name}[/bold]: " + "  ".join(f"{b.get('display', b['value'])} ({b['count']})" for b in buckets))


def _when(ts: str | None) -> str:
    """``2025-08-19T06:20:00Z`` → ``2025-08-19 06:20`` (``""`` for None)."""
    return (ts or "")[:16].replace("T", " ")


def _top_entities(entity_keys: dict | None, n: int = 4) -> str:
    """The ``n`` most mentioned entity keys of an event over all labels: ``LOC:بغداد (3), …``."""
    flat = [(e["count"], label, e.get("display") or e["value"])
            for label, entries in (entity_keys or {}).items() for e in entries or []]
    flat.sort(key=lambda t: (-t[0], t[1], t[2]))
    return ", ".join(f"{label}:{value} ({count})" for count, label, value in flat[:n])


def print_events(result: dict, *, shown_note: str = "") -> None:
    """Print ``hadath events``' table: title and id, articles (outlets), first and last seen
    (days), top entities (``result`` as :func:`shared.event_search.list_events` gives it, with the
    ``first_ingested_at``/``last_ingested_at`` fields for undated events)."""
    out.print(f"[bold]{result['total']}[/bold] events{shown_note}")
    table = Table(Column("event (title, id)", ratio=3), Column("articles (outlets)", max_width=9),
                  Column("first / last seen", no_wrap=True), Column("top entities", ratio=2))
    for e in result["events"]:
        first = (e.get("first_published_at") or e.get("first_ingested_at") or "")[:10]
        last = (e.get("last_published_at") or e.get("last_ingested_at") or "")[:10]
        trending = " [bold red]trending[/bold red]" if e.get("trending") else ""
        table.add_row(f"{escape(e.get('title') or '(untitled)')}\n[dim]{e['event_id']}[/dim]{trending}",
                      f"{e.get('article_count') or 0} ({e.get('source_count') or 0})",
                      first if first == last else f"{first}\n{last}",
                      escape(_top_entities(e.get("entity_keys"), 3)))
    out.print(table)


@app.command("events")
def events_cmd(
    query: Annotated[Optional[str], typer.Argument(help="the events whose articles match these words "
                                                   "(as hadath search); none: the newest events")] = None,
    entity: Annotated[Optional[list[str]], typer.Option("--entity", help="LABEL:VALUE, e.g. LOC:بغداد (repeatable)")] = None,
    topic: Annotated[Optional[list[str]], typer.Option("--topic", help="only this topic (repeatable)")] = None,
    since: Annotated[Optional[str], typer.Option(help="last seen on or after this: YYYY-MM-DD, ISO 8601 or an age (2h, 7d)")] = None,
    trending: bool = typer.Option(False, "--trending", help="only trending events"),
    min_articles: int = typer.Option(1, "--min-articles", min=1, help="only events of at least N articles"),
    size: int = typer.Option(10, min=1, max=1000),
    as_json: bool = typer.Option(False, "--json", help='print {"total", "events": [...]}'),
) -> None:
    """List events: title, articles, outlets, first and last seen, top entities.

    With QUERY: the events whose articles match it, best match first; without: the newest events
    by last seen (the newest article's published_at, else its ingested_at). Merged events are
    never listed. --json: {"total": int, "events": [{event_id, title, summary, article_count,
    source_count, sources, first_published_at, last_published_at, event_date, topic, trending,
    entity_keys, places}]}."""
    from hadath.replay import parse_since
    from shared.es import client
    from shared.event_search import EVENT_FIELDS, list_events
    from shared.search import parse_entity_filter

    try:
        filters = [parse_entity_filter(spec) for spec in entity or []]
        since_d = _moment(since, "--since", parse_since)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    settings = _settings()
    fields = EVENT_FIELDS if as_json else EVENT_FIELDS + ("first_ingested_at", "last_ingested_at")
    with _friendly_errors(settings):
        result = list_events(client(settings), settings, query, entities=filters, topics=topic or [],
                             since=since_d, trending=trending, min_articles=min_articles, size=size,
                             fields=fields)
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        return
    shown = len(result["events"])
    note = f" ({shown} shown; --size for more)" if shown < result["total"] else ""
    print_events(result, shown_note=note)
    if result["events"]:
        out.print("[dim]hadath event ID shows one event's articles by outlet and time[/dim]")


@app.command("event")
def event_cmd(event_id: Annotated[str, typer.Argument(help="an event id (from hadath events or search --json)")],
              as_json: bool = typer.Option(False, "--json", help="print the event and its articles as JSON")) -> None:
    """Show one event: title, summary, counts, dates, top entities, places, and its articles by
    outlet and time (the timeline). An id that was merged into another shows the surviving event.

    --json: {"requested_id", "merged_chain": [ids walked, [] if not merged], "event": {...},
    "total_articles", "articles": [{article_id, title, source, url, published_at, ingested_at,
    topic, duplicate_of}]}. Unknown id: exit code 1."""
    from shared.es import client
    from shared.event_search import EventNotFound, event_timeline

    settings = _settings()
    with _friendly_errors(settings):
        try:
            view = event_timeline(client(settings), settings, event_id)
        except EventNotFound:
            console.print(f"[red]no event {event_id!r} in {settings.events_alias}[/red] "
                          "(hadath events lists them)", highlight=False)
            raise typer.Exit(1)
    chain = view["merged_chain"]
    if as_json:
        if chain:
            console.print(f"event {event_id} was merged into {chain[-1]}", highlight=False)
        sys.stdout.write(json.dumps(view, ensure_ascii=False) + "\n")
        return
    if chain:
        out.print(f"[yellow]event {event_id} was merged into {chain[-1]}[/yellow]"
                  + (f" (via {' → '.join(chain[1:-1])})" if len(chain) > 2 else "") + "; showing it",
                  highlight=False)
    print_event(view)


def print_event(view: dict) -> None:
    """Print one event (``view`` as :func:`shared.event_search.event_timeline` gives it): the
    header, then its articles by time, then per outlet."""
    e = view["event"]
    out.print(f"[bold]{escape(e.get('title') or '(untitled)')}[/bold]  [dim]{e['event_id']}[/dim]", highlight=False)
    if e.get("summary"):
        out.print(e["summary"], markup=False, highlight=False)
    first = e.get("first_published_at") or e.get("first_ingested_at")
    last = e.get("last_published_at") or e.get("last_ingested_at")
    facts = [f"{e.get('article_count') or 0} articles from {e.get('source_count') or 0} outlets",
             f"seen {_when(first)} → {_when(last)}"]
    if e.get("event_date"):
        facts.append(f"event date {e['event_date']}")
    if e.get("topic"):
        facts.append(f"topic {e['topic']}")
    if e.get("trending"):
        facts.append(f"trending (score {e.get('trending_score')})")
    out.print(" · ".join(facts), highlight=False)
    for label, entries in (e.get("entity_keys") or {}).items():
        if entries:
            out.print(f"{label}: " + ", ".join(f"{x.get('display') or x['value']} ({x['count']})" for x in entries[:6]),
                      markup=False, highlight=False)
    if e.get("places"):
        out.print("places: " + ", ".join(f"{p.get('name')}" + (f" ({p['country_code']})" if p.get("country_code") else "")
                                         + f" ×{p.get('count', 1)}" for p in e["places"][:6]),
                  markup=False, highlight=False)
    if e.get("merged_from"):
        out.print(f"merged from: {', '.join(e['merged_from'])}", highlight=False)
    articles = view["articles"]
    timeline = Table(Column("published", no_wrap=True), "outlet", "title", Column("article", no_wrap=True, min_width=20),
                     title="timeline", title_justify="left")
    for a in articles:
        when = _when(a.get("published_at")) or f"({_when(a.get('ingested_at'))} ingested)"
        title = escape(a.get("title") or "") + (" [dim](near-duplicate)[/dim]" if a.get("duplicate_of") else "")
        timeline.add_row(when, escape(a.get("source") or ""), title, a.get("article_id") or "")
    out.print(timeline)
    per_outlet: dict[str, list[dict]] = {}
    for a in articles:
        per_outlet.setdefault(a.get("source") or "unknown", []).append(a)
    outlets = Table("outlet", "articles", "first", "last", title="by outlet", title_justify="left")
    for source, items in sorted(per_outlet.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        times = [a.get("published_at") or a.get("ingested_at") for a in items]
        outlets.add_row(escape(source), str(len(items)), _when(times[0]), _when(times[-1]))
    out.print(outlets)
    if view["total_articles"] > len(articles):
        out.print(f"the first {len(articles)} of {view['total_articles']} articles shown (--json gives the same)")


@app.command("demo")
def demo(extract_workers: Optional[int] = typer.Option(None, "--extract-workers", min=1,
                                                       help="default: one per core, at most 4"),
         query: str = typer.Option(DEMO_QUERY, help="the search printed at the end"),
         timeout_seconds: float = typer.Option(600)) -> None:
    """The main job: infra up, services up, feed the shipped samples, wait until indexed, search,
    then wait until the events are written and list them."""
    from hadath import infra, processes
    from shared.es import client, ensure_index
    from hadath.kafka_admin import wait_until_idle
    from shared.search import search

    settings = _settings()
    console.rule("1/6 Kafka and Elasticsearch")
    infra.up(settings, timeout_seconds=timeout_seconds, progress=console.print)
    es = client(settings)
    ensure_index(es, settings, progress=console.print)
    console.rule("2/6 services")
    processes.up(settings, extract_workers=_extract_workers(extract_workers), web=True, progress=console.print)
    console.rule("3/6 feeding the sample articles")
    report = _feed([SAMPLES_DIR / "articles.jsonl", SAMPLES_DIR / "page.txt"], "sample-page")
    console.print(f"sent {report.sent}, refused {report.refused}")
    console.rule("4/6 waiting until everything is indexed")
    started = time.monotonic()
    wait_until_idle(settings, timeout_seconds=timeout_seconds,
                    on_poll=lambda st: console.print("  lag: " + ", ".join(f"{k} {v['lag']}" for k, v in st["groups"].items())))
    es.indices.refresh(index=settings.index_alias)
    console.print(f"{es.count(index=settings.index_alias)['count']} documents in the index "
                  f"({time.monotonic() - started:.1f} s after feeding; the sample page holds two stories, "
                  f"and documents fed earlier stay until `hadath infra wipe`)")
    console.rule(f"5/6 hadath search {query}")
    print_result(search(es, settings, query, size=5))
    console.rule("6/6 hadath events")
    if _wait_for_events(es, settings, timeout_seconds=min(timeout_seconds, 120)):
        from shared.event_search import EVENT_FIELDS, list_events

        fields = EVENT_FIELDS + ("first_ingested_at", "last_ingested_at")
        every = list_events(es, settings, size=1, fields=fields)["total"]
        result = list_events(es, settings, min_articles=2, size=8, fields=fields)
        shown = len(result["events"])
        console.print(f"{every} events; those of two articles or more (hadath events --min-articles 2):")
        print_events(result, shown_note=f" (the newest {shown}; hadath events for more)" if shown < result["total"] else "")
    console.print(f"\nOpen the search page: [bold]{processes.web_url(settings)}[/bold] "
                  f"(search in Arabic, click a facet, an event, its places on the map).")
    console.print("The pipeline keeps running. The command is [bold].venv/bin/hadath[/bold] "
                  "(or [bold]source .venv/bin/activate[/bold] first, then [bold]hadath[/bold]). "
                  "Try: [bold]hadath search \"الأمم المتحدة\"[/bold], "
                  "[bold]hadath events \"بغداد\"[/bold], [bold]hadath event ID[/bold], "
                  "[bold]hadath status[/bold], [bold]hadath feed FILE[/bold]. Stop it with [bold]make down[/bold] "
                  "(hadath services down && hadath infra down).")


def _wait_for_events(es, settings: Settings, *, timeout_seconds: float, poll_seconds: float = 1.0) -> bool:
    """Wait until the event documents are written: every article document has an ``event_id``
    and the events' ``article_count`` sum equals the article count
    (:func:`shared.event_search.events_written`). True when they are; False (after a yellow line
    saying what is missing) when ``timeout_seconds`` pass first."""
    from shared.event_search import events_written

    deadline = time.monotonic() + timeout_seconds
    while True:
        st = events_written(es, settings)
        if st["without_event"] == 0 and st["event_articles"] == st["articles"]:
            console.print(f"{st['articles']} articles are in events")
            return True
        if time.monotonic() > deadline:
            console.print(f"[yellow]the events are not all written after {timeout_seconds:.0f} s: "
                          f"{st['without_event']} of {st['articles']} articles have no event yet, the events "
                          f"count {st['event_articles']} articles (see hadath status and hadath services "
                          f"status; hadath events lists what is there)[/yellow]")
            return False
        console.print(f"  waiting for the events: {st['without_event']} articles without an event, "
                      f"events count {st['event_articles']} of {st['articles']}")
        time.sleep(poll_seconds)


@app.command("web")
def web_cmd(port: Optional[int] = typer.Option(None, help="TCP port (default HADATH_WEB_PORT, 8080)"),
            host: Optional[str] = typer.Option(None, help="address to listen on (default HADATH_WEB_HOST, 127.0.0.1)")) -> None:
    """Serve the search page in the foreground (Ctrl-C stops it); `hadath services up` starts
    the same page in the background."""
    import uvicorn

    from services.web.app import create_app

    settings = _settings()
    settings = settings.model_copy(update={k: v for k, v in (("web_port", port), ("web_host", host)) if v is not None})
    console.print(f"search page: http://{settings.web_host}:{settings.web_port}/")
    uvicorn.run(create_app(settings), host=settings.web_host, port=settings.web_port, log_level="warning")


@app.command("train-ner")
def train_ner(train: Annotated[Path, typer.Argument(help="CoNLL 'word TAG' training file")],
              model: Annotated[str, typer.Option("--model", help="bilstm (the default recognizer; needs "
                                                 "pip install -e '.\\[ner-train]') or crf")] = "bilstm",
              out_path: Annotated[Optional[Path], typer.Option("--out", help="model file to write "
                                                               "(default: the shipped model)")] = None,
              news: Annotated[Path, typer.Option("--news", help="news corpus the BiLSTM's word2vec "
                                                 "vectors are learned from (JSONL, gzip ok)")]
              = Path("../shared/data/news/ant-20k.jsonl.gz"),
              epochs: Annotated[Optional[int], typer.Option("--epochs", help="BiLSTM training epochs "
                                                            "(default 18; 19 for the distilled student)")] = None,
              distill: Annotated[bool, typer.Option("--distill/--no-distill", help="BiLSTM: the shipped "
                                                    "recipe (two teacher networks tag 4,000 news articles; "
                                                    "one student learns from gold + silver, ~30 min) or one "
                                                    "network on the gold data only (~8 min)")] = True) -> None:
    """Train an offline recognizer (see services/extract/ner/model/MODEL_CARD.md): the BiLSTM-CRF
    (word2vec vectors from --news first, cached under HADATH_HOME) or the CRF."""
    if model == "crf":
        from services.extract.ner.training.train import train_main

        out.print_json(data=train_main(train, out_path))
        return
    if model != "bilstm":
        raise typer.BadParameter(f"unknown model {model!r}: choose bilstm or crf", param_hint="--model")
    w2v = _settings().home / "ner" / "w2v.npz"
    try:
        import torch  # noqa: F401

        if not w2v.exists():
            import gensim  # noqa: F401
    except ImportError as exc:
        console.print(f"[red]training the BiLSTM needs torch and gensim: pip install -e '.\\[ner-train]' ({exc})[/]")
        raise typer.Exit(2) from exc
    from services.extract.ner.training import embeddings, neural_train

    if not w2v.exists():
        if not news.exists():
            console.print(f"[red]news corpus not found: {news} (give --news)[/]")
            raise typer.Exit(2)
        w2v.parent.mkdir(parents=True, exist_ok=True)
        console.print(f"learning word2vec vectors from {news} (a few minutes) ...")
        embeddings.build(news, w2v)
    target = out_path or neural_train.DEFAULT_NEURAL_PATH
    if distill:
        from services.extract.ner.training.distill import train_distilled

        if not news.exists():
            console.print(f"[red]news corpus not found: {news} (give --news, or --no-distill)[/]")
            raise typer.Exit(2)
        report = train_distilled(train, w2v, news, target, _settings().home / "ner" / "distill",
                                 student_epochs=epochs or 19, log=console.print)
    else:
        report = neural_train.run(train, w2v, target, None, epochs=epochs or 18)
    out.print_json(data={k: v for k, v in report.items() if k != "history"})


@app.command("eval-ner")
def eval_ner(gold: Annotated[Path, typer.Argument(help="CoNLL 'word TAG' gold file")],
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Entity-level precision, recall and F1 (conlleval rules) of the configured recognizer
    (HADATH_RECOGNIZER)."""
    from services.extract.ner.training.evaluate import eval_main

    raise typer.Exit(eval_main(gold, as_json, recognizer=_settings().recognizer))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
