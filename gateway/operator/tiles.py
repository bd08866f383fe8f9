"""The 32 issuers of SPEC §1 as the dashboard draws them: names and a tile on a rough map.

One tile per province-level issuer on a 9 × 8 grid that keeps neighbours roughly neighbours
(north up, east right): Heilongjiang top right, Xinjiang and the XPCC top left, Hainan at the
bottom. The names are SPEC §1's; the grid is ours.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tile:
    iss: str
    zh: str
    en: str
    x: int
    y: int


TILES = (
    Tile("110000", "北京", "Beijing", 6, 1),
    Tile("120000", "天津", "Tianjin", 7, 2),
    Tile("130000", "河北", "Hebei", 6, 2),
    Tile("140000", "山西", "Shanxi", 5, 2),
    Tile("150000", "内蒙古", "Inner Mongolia", 5, 1),
    Tile("210000", "辽宁", "Liaoning", 7, 1),
    Tile("220000", "吉林", "Jilin", 8, 1),
    Tile("230000", "黑龙江", "Heilongjiang", 8, 0),
    Tile("310000", "上海", "Shanghai", 8, 4),
    Tile("320000", "江苏", "Jiangsu", 7, 4),
    Tile("330000", "浙江", "Zhejiang", 7, 5),
    Tile("340000", "安徽", "Anhui", 6, 4),
    Tile("350000", "福建", "Fujian", 6, 6),
    Tile("360000", "江西", "Jiangxi", 6, 5),
    Tile("370000", "山东", "Shandong", 6, 3),
    Tile("410000", "河南", "Henan", 5, 3),
    Tile("420000", "湖北", "Hubei", 5, 4),
    Tile("430000", "湖南", "Hunan", 5, 5),
    Tile("440000", "广东", "Guangdong", 5, 6),
    Tile("450000", "广西", "Guangxi", 4, 6),
    Tile("460000", "海南", "Hainan", 4, 7),
    Tile("500000", "重庆", "Chongqing", 4, 4),
    Tile("510000", "四川", "Sichuan", 3, 4),
    Tile("520000", "贵州", "Guizhou", 4, 5),
    Tile("530000", "云南", "Yunnan", 3, 5),
    Tile("540000", "西藏", "Tibet", 1, 4),
    Tile("610000", "陕西", "Shaanxi", 4, 3),
    Tile("620000", "甘肃", "Gansu", 3, 2),
    Tile("630000", "青海", "Qinghai", 2, 3),
    Tile("640000", "宁夏", "Ningxia", 4, 2),
    Tile("650000", "新疆", "Xinjiang", 0, 1),
    Tile("660000", "新疆生产建设兵团", "XPCC", 1, 1),
)
