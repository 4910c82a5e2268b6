import pytest

from huike.core.masking import mask


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("phone", "13812345678", "138****5678"),
        ("phone", "+8613812345678", "+86*******5678"),
        ("phone", "12345", "1***5"),
        ("phone", "91234567", "91****67"),
        ("phone", "0211234567", "021*****67"),
        ("email", "zhang.wei@example.com", "z***@example.com"),
        ("email", "@example.com", "***@example.com"),
        ("id_number", "110101199003077777", "1****************7"),
        ("address", "上海市浦东新区", "上*****区"),
        ("date", "1990-03-07", "****-**-**"),
        ("phone", "", ""),
        ("phone", None, ""),
    ],
)
def test_mask_hides_the_middle(kind: str, value: str | None, expected: str) -> None:
    assert mask(kind, value) == expected
