"""The only package that imports heavy libraries; each backend module wraps one of them."""
