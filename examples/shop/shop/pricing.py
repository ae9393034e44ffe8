"""Prices and order totals: the app logic the end-to-end suite checks."""

from __future__ import annotations

PRODUCTS = {
    "tea": {"name": "Green tea", "price_cents": 1250},
    "cup": {"name": "Tea cup", "price_cents": 1750},
    "pot": {"name": "Tea pot", "price_cents": 4200},
}


def order_total_cents(skus: list[str]) -> int:
    """Sum of the prices of the given products; unknown products are ignored."""
    return sum(PRODUCTS[s]["price_cents"] for s in skus if s in PRODUCTS)


def money(cents: int) -> str:
    return f"${cents // 100}.{cents % 100:02d}"
