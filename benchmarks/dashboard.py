"""The dashboard's server time on SQLite with 1,000 and with 100,000 incidents: the
company histories of benchmarks/history.py, cached under instance/benchmarks/ as
benchmarks/scale.py keeps them (which times every page, the dashboard among them, on
both databases). Prints the median of each and their ratio as the last line.

    .venv/bin/python benchmarks/dashboard.py [N requests, default 20]
"""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import history, scale
from fieldsvc import create_app


def median_ms(url: str, times: int) -> float:
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SERVER_NAME": "bench", "WTF_CSRF_ENABLED": False}
    )
    client = app.test_client()
    email = scale.pages(app)["_email"]
    client.post("/login", data={"email": email, "password": history.PASSWORD})
    assert client.get("/dashboard").status_code == 200  # warm up
    spent = []
    for _ in range(times):
        start = time.perf_counter()
        response = client.get("/dashboard")
        spent.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return statistics.median(spent)


def main(times: int) -> None:
    results = {}
    for count in (1_000, 100_000):
        results[count] = median_ms(scale.sqlite_url(count, rebuild=False), times)
        print(f"{count:>7} incidents  dashboard {results[count]:.1f} ms")
    print(f"ratio {results[100_000] / results[1_000]:.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
