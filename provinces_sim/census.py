"""The 32 issuers of SPEC §1: code, name, 2020 census population, signing algorithm, capital.

The algorithm column is this simulation's choice (SPEC names the algorithms, not who uses
which), made so that all three of SPEC §2's algorithms carry real traffic: Ed25519 has 13
issuers (576 M people), ES256 11 (465 M), SM2 8 (373 M, about a quarter), and each has at least
three of the ten largest provinces. The 8 SM2 issuers are a spread: by size, from Henan (99.4 M,
the third largest) and Sichuan through Zhejiang, Fujian, Shaanxi and Jilin down to Tianjin (a
municipality: one city) and Qinghai (5.9 M, a few dozen residents at the default scale); by
region, the north, north-east, east, south-east, centre, south-west and north-west; and taken
from both earlier sides (5 were Ed25519, 3 ES256), so the other two keep large provinces too.
Henan is one of the four issuers whose statuses the scenario test's Redis loses, and with the
demo's seed Sichuan rotates its key, so SM2 also goes through a resend from the mark and a
rotation.
"""

from __future__ import annotations

from dataclasses import dataclass

ED25519 = "Ed25519"
ES256 = "ES256"
SM2 = "SM2"


@dataclass(frozen=True, slots=True)
class Province:
    iss: str  # GB/T 2260 province-level code, six ASCII digits
    name: str
    population_m: float  # 2020 census, millions (SPEC §1)
    alg: str  # the algorithm of its code-signing and upload keys
    capital: str  # the capital's prefecture code: where a city outbreak starts
    capital_name: str

    @property
    def municipality(self) -> bool:
        """Beijing, Tianjin, Shanghai and Chongqing are one city each."""
        return self.iss in ("110000", "120000", "310000", "500000")

    def cities(self) -> tuple[str, ...]:
        """Prefecture codes residents live in: the capital first, then three others."""
        if self.municipality:
            return (self.capital,)
        return (self.capital, *(f"{self.iss[:2]}{n:02d}00" for n in (2, 3, 4)))


PROVINCES: tuple[Province, ...] = (
    Province("110000", "北京 Beijing", 21.9, ES256, "110100", "北京 Beijing"),
    Province("120000", "天津 Tianjin", 13.9, SM2, "120100", "天津 Tianjin"),
    Province("130000", "河北 Hebei", 74.6, ED25519, "130100", "石家庄 Shijiazhuang"),
    Province("140000", "山西 Shanxi", 34.9, ES256, "140100", "太原 Taiyuan"),
    Province("150000", "内蒙古 Inner Mongolia", 24.0, ED25519, "150100", "呼和浩特 Hohhot"),
    Province("210000", "辽宁 Liaoning", 42.6, ES256, "210100", "沈阳 Shenyang"),
    Province("220000", "吉林 Jilin", 24.1, SM2, "220100", "长春 Changchun"),
    Province("230000", "黑龙江 Heilongjiang", 31.9, ED25519, "230100", "哈尔滨 Harbin"),
    Province("310000", "上海 Shanghai", 24.9, ES256, "310100", "上海 Shanghai"),
    Province("320000", "江苏 Jiangsu", 84.7, ES256, "320100", "南京 Nanjing"),
    Province("330000", "浙江 Zhejiang", 64.6, SM2, "330100", "杭州 Hangzhou"),
    Province("340000", "安徽 Anhui", 61.0, ED25519, "340100", "合肥 Hefei"),
    Province("350000", "福建 Fujian", 41.5, SM2, "350100", "福州 Fuzhou"),
    Province("360000", "江西 Jiangxi", 45.2, ED25519, "360100", "南昌 Nanchang"),
    Province("370000", "山东 Shandong", 101.5, ES256, "370100", "济南 Jinan"),
    Province("410000", "河南 Henan", 99.4, SM2, "410100", "郑州 Zhengzhou"),
    Province("420000", "湖北 Hubei", 57.8, ED25519, "420100", "武汉 Wuhan"),
    Province("430000", "湖南 Hunan", 66.4, ES256, "430100", "长沙 Changsha"),
    Province("440000", "广东 Guangdong", 126.0, ED25519, "440100", "广州 Guangzhou"),
    Province("450000", "广西 Guangxi", 50.1, ED25519, "450100", "南宁 Nanning"),
    Province("460000", "海南 Hainan", 10.1, ES256, "460100", "海口 Haikou"),
    Province("500000", "重庆 Chongqing", 32.1, ES256, "500100", "重庆 Chongqing"),
    Province("510000", "四川 Sichuan", 83.7, SM2, "510100", "成都 Chengdu"),
    Province("520000", "贵州 Guizhou", 38.6, ES256, "520100", "贵阳 Guiyang"),
    Province("530000", "云南 Yunnan", 47.2, ED25519, "530100", "昆明 Kunming"),
    Province("540000", "西藏 Tibet", 3.6, ED25519, "540100", "拉萨 Lhasa"),
    Province("610000", "陕西 Shaanxi", 39.5, SM2, "610100", "西安 Xi'an"),
    Province("620000", "甘肃 Gansu", 25.0, ED25519, "620100", "兰州 Lanzhou"),
    Province("630000", "青海 Qinghai", 5.9, SM2, "630100", "西宁 Xining"),
    Province("640000", "宁夏 Ningxia", 7.2, ES256, "640100", "银川 Yinchuan"),
    Province("650000", "新疆 Xinjiang", 25.9, ED25519, "650100", "乌鲁木齐 Ürümqi"),
    Province("660000", "新疆生产建设兵团 XPCC", 3.3, ED25519, "660100", "石河子 Shihezi"),
)

BY_ISS: dict[str, Province] = {p.iss: p for p in PROVINCES}

DEFAULT_SCALE = 1e-5  # residents per person: 1 per 100,000 → about 14,100 residents
MIN_RESIDENTS = 3  # even Tibet and the XPCC get a few, so every issuer has traffic


def residents_for(province: Province, scale: float) -> int:
    """How many residents the simulation gives a province at ``scale``."""
    return max(MIN_RESIDENTS, round(province.population_m * 1e6 * scale))
