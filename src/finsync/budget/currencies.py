"""Currencies: the active ISO 4217 codes, the symbols people write (and which currencies
share them), and a currency column's cells.

Currency (per row: the currency column, else a symbol or code in the amount, else the
config's default_currency):

- ISO 4217 codes (any case in a currency column; upper case inside an amount, so `500 top`
  is a note, not Tongan pa'anga); symbols `€` EUR, `£` GBP, `₹` INR, `A$` AUD, `C$` CAD, `NZ$` NZD,
  `HK$` HKD, `S$` SGD, `R$` BRL, `MX$` MXN, `US$` USD and more (_SYMBOLS). A symbol shared by
  several currencies means the default currency when the default is one of them, else its
  usual meaning: `$` is the default currency when that is a dollar or peso currency, else USD;
  `¥` is CNY when the default is CNY, else JPY; `kr` has no usual meaning (SEK, NOK, DKK, ISK)
  and needs a currency column or a `kr` default.
- A currency column value that contradicts the amount's own currency (EUR next to `£12`) is
  rejected; a shared symbol agrees with any currency that uses it (CAD next to `$12`).
- Unknown codes are rejected. Only active ISO 4217 currencies are accepted (ISO_4217).
"""

from __future__ import annotations

from dataclasses import dataclass

# Active ISO 4217 currency and fund codes (list one), as of 2026: without ANG (replaced by XCG
# 2025), BGN (euro 2026), CUC, HRK (euro 2023), SLL (redenominated as SLE), ZWL (replaced by
# ZWG 2024), and without codes that are not money a budget is held in: precious metals (XAG,
# XAU, XPD, XPT), bond units (XBA-XBD), XDR, XSU, XUA, the test code XTS and XXX.
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN
    BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR
    FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU
    MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON
    RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP
    TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER
    ZAR ZMW ZWG
    """.split()
)

SHARED_SYMBOL = (
    "the currency symbol is used by several currencies ({}); write the ISO code or add a "
    "currency column"
)
UNKNOWN_CURRENCY = "not an active ISO 4217 currency code or known symbol; write e.g. USD, EUR, GBP"

_DOLLARS = frozenset(
    "USD AUD CAD NZD SGD HKD TWD MXN ARS CLP COP CUP DOP UYU BSD BBD BMD BND BZD FJD GYD JMD "
    "KYD LRD NAD SBD SRD TTD XCD".split()
)
# token (lower case) -> (usual currency or None, every currency that writes it this way)
SYMBOLS: dict[str, tuple[str | None, frozenset[str]]] = {
    "$": ("USD", _DOLLARS),
    "¥": ("JPY", frozenset({"JPY", "CNY"})),
    "￥": ("JPY", frozenset({"JPY", "CNY"})),
    "kr": (None, frozenset({"SEK", "NOK", "DKK", "ISK"})),
    **{
        token: (code, frozenset({code}))
        for token, code in {
            "us$": "USD",
            "a$": "AUD",
            "au$": "AUD",
            "c$": "CAD",
            "ca$": "CAD",
            "can$": "CAD",
            "nz$": "NZD",
            "hk$": "HKD",
            "s$": "SGD",
            "sg$": "SGD",
            "r$": "BRL",
            "mx$": "MXN",
            "nt$": "TWD",
            "€": "EUR",
            "£": "GBP",
            "₹": "INR",
            "₩": "KRW",
            "₽": "RUB",
            "₺": "TRY",
            "₪": "ILS",
            "₫": "VND",
            "₱": "PHP",
            "฿": "THB",
            "₦": "NGN",
            "₴": "UAH",
            "₸": "KZT",
            "₼": "AZN",
            "₾": "GEL",
            "₡": "CRC",
            "₲": "PYG",
            "₵": "GHS",
            "元": "CNY",
            "rmb": "CNY",
            "zł": "PLN",
            "kč": "CZK",
        }.items()
    },
}


@dataclass(frozen=True)
class Currency:
    code: str | None  # resolved ISO code, None when a shared symbol cannot be resolved
    family: str | None = None  # the shared symbol ('$', '¥', 'kr') when the token is one


def currency_token(
    token: str, default_currency: str | None, *, any_case: bool = False
) -> Currency | None:
    """The currency a token names, or None when it is not a currency. In amounts an ISO code
    must be upper case ('500 top' is a note, not Tongan pa'anga); a currency column's cells
    (`any_case`) may be written in any case."""
    code = token.upper()
    if code in ISO_4217 and token.isascii() and token.isalpha() and (any_case or token == code):
        return Currency(code)
    entry = SYMBOLS.get(token.lower())
    if entry is None:
        return None
    usual, users = entry
    if len(users) == 1:
        return Currency(usual)
    resolved = default_currency if default_currency in users else usual
    return Currency(resolved, token.lower())


def currency_cell(text: str, default_currency: str | None) -> tuple[str | None, str | None]:
    """A currency column cell -> (ISO code or None when blank, reason it is bad)."""
    if not text:
        return None, None
    currency = currency_token(text.strip(), default_currency, any_case=True)
    if currency is None:
        return None, UNKNOWN_CURRENCY
    if currency.code is None and currency.family is not None:  # an unresolved shared symbol
        return None, SHARED_SYMBOL.format(symbol_users(currency.family))
    return currency.code, None


def symbol_users(family: str) -> str:
    """The currencies that write a shared symbol ('$', '¥', 'kr'), for messages."""
    return ", ".join(sorted(SYMBOLS[family][1]))
