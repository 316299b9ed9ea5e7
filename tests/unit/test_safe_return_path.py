import pytest

from ciam_webapp.web.security import safe_return_path


@pytest.mark.parametrize("target", ["/", "/profile", "/profile/edit?x=1", "/claims#top"])
def test_same_origin_paths_are_kept(target):
    assert safe_return_path(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/%2Fevil.example",
        "/%2fevil.example",
        "/%5Cevil.example",
        "/%252F%252Fevil.example",
        "%2F%2Fevil.example",
        "javascript:alert(1)",
        "/\tevil",
        "profile",
        "/ok\r\nSet-Cookie: x=1",
    ],
)
def test_anything_else_is_refused(target):
    assert safe_return_path(target) is None
