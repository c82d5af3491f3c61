"""The load test's parts that need no server: locust's CSV read into the figures, the RSS reader on a fake /proc."""

import pytest

from bench import load
from bench.run import summary

HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
    "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
    "99.99%,100%"
)
STATS = "\n".join(
    [
        HEADER,
        "GET,case detail,600,0,42,50.5,20.1,400.2,6000.0,60.0,0.0,42,48,55,60,80,120,150,210,390,400,400",
        "GET,case list (open),400,0,90,100.0,40.0,900.0,10000.0,40.0,0.0,90,100,110,120,200,350,500,700,900,900,900",
        "GET,evaluation dashboard,0,0,0,0.0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A",
        "POST,setup: sign in,16,2,600,610.0,500.0,800.0,0.0,1.6,0.2,600,610,620,630,700,780,800,800,800,800,800",
        ",Aggregated,1016,2,50,70.0,20.1,900.0,7000.0,101.6,0.2,50,60,70,80,150,300,450,650,850,900,900",
    ]
)


@pytest.fixture
def stats_csv(tmp_path):
    path = tmp_path / "locust_stats.csv"
    path.write_text(STATS + "\n", encoding="utf-8")
    return path


def test_the_stats_csv_gives_each_page_its_percentiles_and_throughput(stats_csv):
    rows = {row["page"]: row for row in load.parse_stats(stats_csv)}
    detail = rows["case detail"]
    assert (detail["requests"], detail["failures"]) == (600, 0)
    assert (detail["p50_ms"], detail["p95_ms"], detail["p99_ms"]) == (42.0, 120.0, 210.0)
    assert detail["pages_per_second"] == 60.0
    assert rows["Aggregated"]["failures"] == 2
    # A page never requested has no percentiles (locust writes N/A), not zeros.
    assert rows["evaluation dashboard"]["p95_ms"] is None


def test_the_summary_leaves_setup_out_of_the_pages_but_counts_its_errors(stats_csv):
    figures = load.summarize(load.parse_stats(stats_csv), "sqlite")
    assert [page["page"] for page in figures["pages"]] == [
        "case detail",
        "case list (open)",
        "evaluation dashboard",
    ]
    assert figures["requests"] == 1000
    assert figures["pages_per_second"] == 100.0  # the mix's pages only, not the sign-ins
    assert figures["errors"] == 2
    assert (figures["meets_throughput"], figures["meets_errors"]) == (True, False)
    by_page = {page["page"]: page for page in figures["pages"]}
    assert by_page["case detail"]["meets_p95"] is True
    assert by_page["case list (open)"]["meets_p95"] is False  # 350 ms > 300 ms on SQLite
    assert by_page["evaluation dashboard"]["meets_p95"] is False  # never measured is not met
    assert figures["meets_p95"] is False


def test_throughput_is_requests_over_the_mix_and_exceptions_are_errors(stats_csv, tmp_path):
    times = tmp_path / "times.json"
    times.write_text('{"started_at": 100.0, "stopped_at": 120.0, "seconds": 20.0}', encoding="utf-8")
    exceptions = tmp_path / "locust_exceptions.csv"
    exceptions.write_text(
        'Count,Message,Traceback,Nodes\n3,IndexError(),"Traceback...",local\n1,KeyError(),"...",local\n',
        encoding="utf-8",
    )
    figures = load.summarize(
        load.parse_stats(stats_csv),
        "postgresql",
        exceptions=load.parse_exceptions(exceptions),
        mix_seconds=load.parse_times(times),
    )
    # 1,000 pages in a 20-second mix: 50 a second, whatever rate locust computed over the whole run.
    assert [page["pages_per_second"] for page in figures["pages"]] == [30.0, 20.0, 0.0]
    assert (figures["pages_per_second"], figures["mix_seconds"], figures["meets_throughput"]) == (
        50.0,
        20.0,
        False,
    )
    assert (figures["errors"], figures["exceptions"]) == (2 + 4, 4)
    assert load.parse_exceptions(tmp_path / "none.csv") == 0
    assert load.parse_times(tmp_path / "none.json") is None
    times.write_text('{"started_at": null, "stopped_at": 120.0, "seconds": null}', encoding="utf-8")
    assert load.parse_times(times) is None  # the mix never started


def test_the_p95_target_depends_on_the_database(stats_csv):
    rows = load.parse_stats(stats_csv)
    assert load.summarize(rows, "sqlite")["target_p95_ms"] == 300.0
    postgres = load.summarize(rows, "postgresql")
    assert postgres["target_p95_ms"] == 200.0
    assert {page["page"]: page["meets_p95"] for page in postgres["pages"]}["case detail"] is True


def test_failures_are_listed_with_their_message(tmp_path):
    path = tmp_path / "locust_failures.csv"
    path.write_text(
        "Method,Name,Error,Occurrences,First Seen,Last Seen\n"
        "POST,setup: sign in,keeper@harbor.example could not sign in (status 200),2,1.0,2.0\n",
        encoding="utf-8",
    )
    assert load.parse_failures(path) == [
        {
            "page": "setup: sign in",
            "error": "keeper@harbor.example could not sign in (status 200)",
            "occurrences": 2,
        }
    ]
    assert load.parse_failures(tmp_path / "missing.csv") == []


def _process(proc, pid, ppid, hwm_kb):
    folder = proc / str(pid)
    folder.mkdir()
    lines = [f"Name:\tgunicorn{pid}", f"Pid:\t{pid}", f"PPid:\t{ppid}"]
    if hwm_kb is not None:
        lines.append(f"VmHWM:\t  {hwm_kb} kB")
    lines.append("VmRSS:\t   1024 kB")
    (folder / "status").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_peak_rss_is_vmhwm_in_megabytes(tmp_path):
    _process(tmp_path, 10, 1, 204800)
    _process(tmp_path, 11, 1, None)  # a kernel thread has no VmHWM
    assert load.peak_rss_mb(10, tmp_path) == 200.0
    assert load.peak_rss_mb(11, tmp_path) is None
    assert load.peak_rss_mb(12, tmp_path) is None  # gone


def test_the_workers_are_the_masters_children_and_the_largest_counts(tmp_path):
    _process(tmp_path, 100, 1, 90000)  # the master
    _process(tmp_path, 101, 100, 204800)
    _process(tmp_path, 102, 100, 266240)
    _process(tmp_path, 200, 1, 999999)  # someone else's process
    (tmp_path / "self").mkdir()  # not a pid: ignored
    assert load.children(100, tmp_path) == [101, 102]
    memory = load.workers_rss(100, tmp_path)
    assert [worker["peak_rss_mb"] for worker in memory["workers"]] == [200.0, 260.0]
    assert memory["peak_rss_mb"] == 260.0
    assert memory["meets_rss"] is False  # 260 MB > 250 MB
    assert load.workers_rss(999, tmp_path)["meets_rss"] is False  # no worker found is not met


def test_users_and_seconds_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("BENCH_LOAD_USERS", raising=False)
    monkeypatch.delenv("BENCH_LOAD_SECONDS", raising=False)
    assert load.settings_from_environment() == (16, 60)
    monkeypatch.setenv("BENCH_LOAD_USERS", "4")
    monkeypatch.setenv("BENCH_LOAD_SECONDS", "10")
    assert load.settings_from_environment() == (4, 10)
    monkeypatch.setenv("BENCH_LOAD_SECONDS", "0")
    with pytest.raises(ValueError, match="BENCH_LOAD_SECONDS"):
        load.settings_from_environment()
    assert [load.evaluators_for(n) for n in (1, 2, 16, 32)] == [0, 1, 2, 4]


def test_the_printed_table_shows_the_load_figures_against_the_targets(stats_csv):
    figures = load.summarize(load.parse_stats(stats_csv), "sqlite")
    memory = {"peak_rss_mb": 233.0, "target_rss_mb": 250.0}
    text = summary({"load": {"users": 16, "seconds": 60, **figures, **memory}})
    assert "case list (open)" in text
    assert "100.0 pages/s (target ≥ 100), 2 errors" in text
    assert "peak RSS 233.0 MB (target ≤ 250 MB)" in text
