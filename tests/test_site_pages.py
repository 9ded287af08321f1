"""The site's own pages until the trading UI exists: the landing page at `/` (GET/HEAD;
POST / is JSON-RPC), the JSON-RPC method list, and API docs pages that load nothing from
another site (their assets are the platform's static files)."""
import re

import pytest
from django.contrib.staticfiles import finders

from apps.trading.jsonrpc import HISTORY_METHOD_NAMES, MARKETDATA_METHOD_NAMES, MATCHER_METHODS

LINKS = re.compile(r'(?:src|href)="([^"]*)"')


def test_landing_page_links_admin_api_docs_and_jsonrpc_methods(client, admin_client):
    response = client.get("/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    links = LINKS.findall(response.content.decode())
    for expected in ("/admin/", "/api/docs/", "/api/redoc/", "/docs/jsonrpc/"):
        assert expected in links
    for link in links:  # every link works (the admin for a logged-in operator)
        assert admin_client.get(link).status_code == 200, link
    assert client.head("/").status_code == 200


def test_jsonrpc_methods_page_lists_every_method(client):
    page = client.get("/docs/jsonrpc/").content.decode()
    for method in MATCHER_METHODS | HISTORY_METHOD_NAMES | MARKETDATA_METHOD_NAMES:
        assert f"<code>{method}</code>" in page


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_docs_pages_load_only_local_assets(client, path):
    page = client.get(path).content.decode()
    assert "http://" not in page and "https://" not in page  # no CDN, no fonts service
    assert not [link for link in LINKS.findall(page) if link.startswith("//")]  # nor protocol-relative
    assets = [link for link in LINKS.findall(page) if link.startswith("/static/")]
    assert assets, "the page references no static asset"
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), asset
