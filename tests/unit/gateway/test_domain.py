"""API keys and offset pages, as the clients expect them."""

import pytest

from services.gateway.domain import ApiKeys, Principal, clamp_page, offset_page
from shared.errors import (
    AdminKeyRequired,
    BadRequest,
    ConfigError,
    ProjectForbidden,
    Unauthorized,
)

ADMIN = Principal("default", "admin")
AGENT_B = Principal("b", "agent")


def keys() -> ApiKeys:
    return ApiKeys([("vk_1", ADMIN), ("vk_b", AGENT_B)])


class TestApiKeys:
    @pytest.mark.parametrize("header", ["Bearer vk_1", "bearer vk_1", "vk_1", "  Bearer   vk_1 "])
    def test_a_known_key_is_accepted_with_or_without_bearer(self, header):
        assert keys().check(header) == ADMIN

    def test_each_key_speaks_for_its_own_project_and_role(self):
        assert keys().check("Bearer vk_b") == AGENT_B

    @pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer vk_2", "vk_10"])
    def test_missing_or_unknown_keys_are_refused(self, header):
        with pytest.raises(Unauthorized):
            keys().check(header)

    def test_one_key_listed_for_two_projects_stops_the_start(self):
        with pytest.raises(ConfigError, match=r"api\.keys"):
            ApiKeys([("vk_1", ADMIN), ("vk_1", AGENT_B)])


class TestPrincipal:
    def test_an_agent_key_is_refused_where_an_admin_key_is_required(self):
        ADMIN.require_admin()
        with pytest.raises(AdminKeyRequired):
            AGENT_B.require_admin()

    def test_a_key_may_use_its_own_project_path_or_none_but_not_another(self):
        AGENT_B.require_project("b")
        AGENT_B.require_project(None)
        with pytest.raises(ProjectForbidden):
            AGENT_B.require_project("default")


class TestPages:
    def test_limits_default_to_25_and_are_clamped_to_100(self):
        assert clamp_page(None, None) == (0, 25)
        assert clamp_page(3, 1000) == (3, 100)
        assert clamp_page(0, 0) == (0, 25)

    @pytest.mark.parametrize(
        ("offset", "limit", "names"), [(-1, None, "offset"), (2**63 - 1, 10, "offset"), (0, -5, "limit")]
    )
    def test_an_offset_or_limit_out_of_range_is_a_bad_request_that_names_it(self, offset, limit, names):
        with pytest.raises(BadRequest, match=names):
            clamp_page(offset, limit)

    def test_the_envelope_always_carries_offset_and_total_count(self):
        page = offset_page([1, 2], 7, 4, 2)
        assert page == {"items": [1, 2], "limit": 2, "offset": 4, "page_count": 2, "total_count": 7}
