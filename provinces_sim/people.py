"""The civil registry's people: a resident identity card number and a full name each.

This is the only module that makes raw ID numbers, and it hands each one straight to the
issuer's ``enrol`` (``issuer.Issuer.populate``), which keeps only the pseudonym and the masked
name (SPEC §3: no code, log line, Redis key or metric ever holds a raw ID number). People are
drawn from a seeded ``random.Random``, so a test can draw the same people again and search
everything the simulator wrote for their numbers.

ID numbers follow the layout of GB 11643 (six-digit area code, birth date, sequence, ISO 7064
MOD 11-2 check character); they are fake, and the area codes are coarse.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

RESIDENT_ID_CARD = "10"  # ID type: resident identity card (two ASCII digits, fixed width)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高梁郑谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛")
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国晓东海燕飞雪梅峰宇浩然"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


@dataclass(frozen=True, slots=True)
class Person:
    id_type: str
    id_number: str  # raw: lives only until the issuer has enrolled the person
    surname: str
    given_name: str
    city: str  # prefecture code of residence


def check_character(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def draw(rng: random.Random, cities: tuple[str, ...], capital_share: float) -> Iterator[Person]:
    """An endless stream of people living in ``cities`` (the capital first)."""
    while True:
        if len(cities) == 1 or rng.random() < capital_share:
            city = cities[0]
        else:
            city = rng.choice(cities[1:])
        area = f"{city[:4]}{rng.randint(1, 20):02d}"
        birth = f"{rng.randint(1940, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        first17 = f"{area}{birth}{rng.randint(0, 999):03d}"
        surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.01 else rng.choice(SURNAMES)
        given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        yield Person(RESIDENT_ID_CARD, first17 + check_character(first17), surname, given, city)


def masked_name(person: Person) -> str:
    """The display name of SPEC §3 ``nm``: the surname and one ``*`` per given-name character."""
    return person.surname + "*" * len(person.given_name)
