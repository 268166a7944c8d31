"""The ways the domain declines to answer a question, for every product.

A domain function that will not answer raises one of these, with a message written for the
caller. It never says how the refusal travels: ``rivta/faults.ANSWERS`` is the one table that turns
each kind into a SOAP fault for every contract and an HTTP status for the JSON API, so a kind added
here is answered the same way everywhere, and the contracts cannot drift apart.
"""

from __future__ import annotations


class Refused(Exception):
    """The domain will not answer; ``str()`` is the reason, in words the caller can act on."""


class BadQuestion(Refused):
    """The question itself is wrong: a malformed code or number, no criterion at all."""


class NotPermitted(Refused):
    """This caller may not ask this (the law's field set, harvest protection); audited as refused."""


class NotAvailable(Refused):
    """The producer cannot answer any such question right now (nothing imported yet)."""
