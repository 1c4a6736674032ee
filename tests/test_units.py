import pytest

from dashbench.units import format_size, parse_heads, parse_size, parse_size_list


@pytest.mark.parametrize(
    "text, value",
    [("1", 1), ("4096", 4096), ("8k", 8192), ("128K", 131072), ("1m", 1048576), (" 2k ", 2048)],
)
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "k", "1.5k", "-4k", "4g", "0", "12kb", "4 k 2"])
def test_parse_size_rejects_with_a_message_naming_what_is_accepted(text):
    with pytest.raises(ValueError, match="k = 1024|at least 1"):
        parse_size(text)


def test_parse_size_list_keeps_order_and_drops_repeats():
    assert parse_size_list("4k,32k,128k") == [4096, 32768, 131072]
    assert parse_size_list("1k,1024,2k") == [1024, 2048]
    with pytest.raises(ValueError):
        parse_size_list(",")


def test_parse_heads():
    assert parse_heads("32/8") == (32, 8)
    assert parse_heads("16") == (16, 16)
    with pytest.raises(ValueError, match="multiple"):
        parse_heads("32/5")
    with pytest.raises(ValueError, match="Hq/Hkv"):
        parse_heads("32/8/2")
    with pytest.raises(ValueError, match="at least 1"):
        parse_heads("0/0")


@pytest.mark.parametrize("value", [1, 1000, 1024, 131072, 1048576, 3 * 1024])
def test_format_size_round_trips(value):
    assert parse_size(format_size(value)) == value
