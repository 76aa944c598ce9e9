"""The load `campaign-manager bench web` puts on the app: run by Locust, not imported by it.

Each simulated marketer signs in through the real login form, then keeps opening the four
pages of the benchmark. The campaign id and the segment rules come from the environment.
"""

import json
import os
import re

from locust import HttpUser, between, task

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
CAMPAIGN_ID = os.environ["CM_BENCH_CAMPAIGN_ID"]
SEGMENT_RULES = json.loads(os.environ["CM_BENCH_SEGMENT_RULES"])


class Marketer(HttpUser):
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        page = self.client.get("/login", name="login").text
        token = CSRF.search(page).group(1)
        self.client.post(
            "/login",
            data={
                "email": os.environ["CM_BENCH_EMAIL"],
                "password": os.environ["CM_BENCH_PASSWORD"],
                "csrf_token": token,
            },
            name="login",
        )
        page = self.client.get("/settings/", name="login").text
        self.csrf_token = CSRF.search(page).group(1)

    @task
    def dashboard(self) -> None:
        self.client.get("/", name="dashboard")

    @task
    def contacts(self) -> None:
        self.client.get("/audiences/", name="contacts list")

    @task
    def segment_count(self) -> None:
        self.client.post(
            "/audiences/segments/preview",
            json={"rules": SEGMENT_RULES},
            headers={"X-CSRFToken": self.csrf_token},
            name="segment builder count",
        )

    @task
    def campaign(self) -> None:
        self.client.get(f"/campaigns/{CAMPAIGN_ID}", name="campaign page")
