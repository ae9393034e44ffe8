"""HTML of the shop's pages. The data-testid attributes are what the end-to-end specs select."""

from __future__ import annotations

import html

from shop.pricing import PRODUCTS, money, order_total_cents

STYLE = """<style>body{font-family:sans-serif;margin:2em}li{margin:.5em 0}
button{margin-left:1em}#badge{font-weight:bold}</style>"""

SCRIPT = """<script>
const cart = JSON.parse(localStorage.getItem('cart') || '[]');
function show() { document.getElementById('badge').textContent = String(cart.length); }
function add(sku) { cart.push(sku); localStorage.setItem('cart', JSON.stringify(cart)); show(); }
function checkout() { location.href = '/checkout?items=' + encodeURIComponent(cart.join(',')); }
window.addEventListener('DOMContentLoaded', () => {
  show();
  fetch('/api/stock').then(r => r.json()).then(s => {
    document.getElementById('stock').textContent = s.in_stock + ' items in stock';
  });
});
</script>"""


def home() -> str:
    items = "".join(
        f'<li>{html.escape(p["name"])} {money(p["price_cents"])}'
        f'<button data-testid="add-{sku}" onclick="add(\'{sku}\')">Add to cart</button></li>'
        for sku, p in PRODUCTS.items()
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Tea shop</title>{STYLE}{SCRIPT}</head>
<body><h1>Tea shop</h1>
<p>Cart: <span id="badge" data-testid="cart-count">0</span>
<button data-testid="checkout" onclick="checkout()">Checkout</button></p>
<p id="stock" data-testid="stock"></p>
<ul>{items}</ul></body></html>"""


def checkout(skus: list[str]) -> str:
    rows = "".join(f"<li>{html.escape(PRODUCTS[s]['name'])}</li>" for s in skus if s in PRODUCTS)
    total = money(order_total_cents(skus))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Checkout</title>{STYLE}</head>
<body><h1>Checkout</h1><ul>{rows}</ul>
<p>Total: <strong data-testid="total">{total}</strong></p></body></html>"""
