"""Web source: a polite crawler (pure Python) feeds HTML pages to a browser that screenshots them."""
