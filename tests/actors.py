"""The actor tests act as (every core action is audited and needs one)."""

from appliance.actors import Actor

TESTER = Actor("test:pytest", "operator")
