"""Our own sign-in page: one plain HTML form, inline style, no script, nothing fetched from anywhere.

(Gradio's built-in login page references an image on an outside host, so it is never used.)
"""

from __future__ import annotations

import html
from types import MappingProxyType

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Document appliance</title>
<style>
  body {{ font-family: system-ui, sans-serif; background: #f4f4f5; margin: 0; }}
  main {{ max-width: 22rem; margin: 12vh auto; background: #fff; padding: 2rem; border-radius: 8px;
         box-shadow: 0 1px 4px rgba(0,0,0,.15); }}
  h1 {{ font-size: 1.3rem; margin-top: 0; }}
  label {{ display: block; margin: 1rem 0 .3rem; }}
  input[type=text], input[type=password] {{ width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; }}
  button {{ margin-top: 1.5rem; width: 100%; padding: .6rem; font-size: 1rem; }}
  .message {{ background: #fee2e2; color: #7f1d1d; padding: .6rem; border-radius: 4px; }}
</style>
</head>
<body>
<main>
<h1>Document appliance</h1>
{message}
<form method="post" action="/login" autocomplete="off">
  <input type="hidden" name="csrf" value="{csrf}">
  <label for="name">User name</label>
  <input type="text" id="name" name="name" required autofocus maxlength="64">
  <label for="password">Password</label>
  <input type="password" id="password" name="password" required maxlength="1024">
  <button type="submit" id="sign-in">Sign in</button>
</form>
</main>
</body>
</html>
"""

MESSAGES = MappingProxyType(
    {
        "failed": "Sign-in failed: wrong user name or password, a disabled account, or too many attempts.",
        "expired": "The form expired; please sign in again.",
        "signed-out": "You are signed out.",
        "busy": "Too many failed sign-ins from this address; wait a few minutes.",
    }
)


def login_html(csrf: str, message: str | None = None) -> str:
    """The sign-in page with a CSRF token and one of the fixed MESSAGES."""
    text = MESSAGES.get(message or "")
    shown = f'<p class="message" role="alert">{html.escape(text)}</p>' if text else ""
    return PAGE.format(message=shown, csrf=html.escape(csrf, quote=True))
