"""A user's profile: who Pager pages and how (name, time zone, contact methods, notification
rules), with verification codes and test pages. Users edit their own; admins anyone's.

An SMS or voice method that users add for themselves starts disabled, and a code goes to
it at once; typing it back enables it. A method an admin adds for someone else is enabled
as given, as through the API or `pagerd apply`."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from urllib.parse import quote

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from pager.application.accounts import User, UserNotFound
from pager.application.contact import CannotSend, TooMany, WrongCode
from pager.application.ports import DeliveryFailed
from pager.domain.errors import Conflict, NotFound, ValidationFailed
from pager.domain.people import (
    CONTACT_TYPES,
    MAX_CONTACT_METHODS,
    MAX_DELAY_MINUTES,
    MAX_REPEAT_MINUTES,
    MAX_REPEATS,
    ContactMethod,
    NotificationRule,
    Person,
)
from pager.entrypoints.console import display, web
from pager.entrypoints.console.web import ConsoleDep, FormDep, UserDep

router = web.router()
TYPE_NAMES = {"sms": "SMS", "voice": "Voice call", "email": "Email"}
_PHONE_SEPARATORS = re.compile(r"[\s().\-]")


@cache
def time_zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def _subject(c: web.Console, viewer: User, email: str) -> User:
    """The user whose profile this is, if `viewer` may see it: their own, or any for admins."""
    if email.strip().lower() != viewer.email and not viewer.is_admin:
        raise web.ConsoleError(
            403, "Not yours", "You may see and change only your own profile.", ("/", "Dashboard")
        )
    try:
        return c.accounts.user(email)
    except UserNotFound:
        raise web.not_found(f"The user {email}") from None


def _url(subject: User) -> str:
    return f"/profile/{quote(subject.email, safe='@')}"


def _page(
    request: Request,
    c: web.Console,
    viewer: User,
    subject: User,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    person = c.accounts.profile(subject.email)
    return web.render(
        request,
        "profile.html",
        status=status,
        subject=subject,
        person=person,
        own=subject.id == viewer.id,
        base=_url(subject),
        labels={m.id: _label(m) for m in person.contact_methods},
        type_names=TYPE_NAMES,
        types=CONTACT_TYPES,
        time_zones=time_zones(),
        max_delay=MAX_DELAY_MINUTES,
        max_repeat=MAX_REPEAT_MINUTES,
        max_repeats=MAX_REPEATS,
        errors=errors or {},
        form={"type": "sms", "address": "", "delay": "0", "repeat": "", "name": person.name,
              "time_zone": person.time_zone} | (form or {}),
    )  # fmt: skip


def _label(method: ContactMethod) -> str:
    return f"{TYPE_NAMES[method.type]} {method.address}"


@router.get("/profile")
def own_profile(request: Request, user: UserDep) -> Response:
    return web.redirect(request, _url(user))


@router.get("/profile/{email}")
def profile(email: str, request: Request, user: UserDep, c: ConsoleDep) -> Response:
    return _page(request, c, user, _subject(c, user, email))


@router.post("/profile/{email}/details")
def save_details(
    email: str, request: Request, user: UserDep, form: FormDep, c: ConsoleDep
) -> Response:
    subject = _subject(c, user, email)
    name = web.field(form, "name", 300)
    time_zone = web.field(form, "time_zone", 100)
    try:
        c.accounts.set_profile(subject.email, name=name, time_zone=time_zone)
    except ValidationFailed as failed:
        errors = dict(failed.problems)
        values = {"name": name, "time_zone": time_zone}
        return _page(request, c, user, subject, errors=errors, form=values, status=422)
    web.session_of(request).flash("Saved your name and time zone." if subject.id == user.id
                                  else f"Saved {subject.email}'s name and time zone.")  # fmt: skip
    return web.redirect(request, _url(subject))


# -- contact methods


def _new_id(person: Person, kind: str) -> str:
    taken = {m.id for m in person.contact_methods}
    number = 1
    while (made := kind if number == 1 else f"{kind}-{number}") in taken:
        number += 1
    return made


def _address(kind: str, text: str) -> str:
    """A phone number as people write it (+1 415 555-0100) in E.164; an email as given."""
    return text if kind == "email" else _PHONE_SEPARATORS.sub("", text)


_FIELDS = {"type": "type", "address": "address", "phone": "address"}


def _method_errors(failed: ValidationFailed, number: int) -> dict[str, str]:
    """The problems of the method added, number `number`, under the add form's fields."""
    errors: dict[str, str] = {}
    prefix = f"contact method {number} "
    for where, what in failed.problems:
        field = (
            _FIELDS.get(where.removeprefix(prefix), "method")
            if where.startswith(prefix)
            else "method"
        )
        errors[field] = f"{errors[field]}; {what}" if field in errors else what
    return errors


@router.post("/profile/{email}/methods")
async def add_method(
    email: str, request: Request, user: UserDep, form: FormDep, c: ConsoleDep
) -> Response:
    subject = await run_in_threadpool(_subject, c, user, email)
    kind = web.field(form, "type", 20)
    typed = web.field(form, "address", 254)
    values = {"type": kind, "address": typed}
    if kind not in CONTACT_TYPES:
        errors = {"type": f"must be one of {', '.join(CONTACT_TYPES)}"}
        return await _page_async(request, c, user, subject, errors, values)
    if not typed:
        errors = {"address": "enter an address" if kind == "email" else "enter a phone number"}
        return await _page_async(request, c, user, subject, errors, values)
    # Codes prove a number is the owner's; an admin's word is enough for someone else's.
    verify = subject.id == user.id and kind in ("sms", "voice")
    made: list[tuple[ContactMethod, int]] = []

    def add(person: Person) -> Person:
        if len(person.contact_methods) >= MAX_CONTACT_METHODS:
            raise ValidationFailed((("method", f"at most {MAX_CONTACT_METHODS} methods"),))
        new = ContactMethod(_new_id(person, kind), kind, _address(kind, typed), not verify)
        made.append((new, len(person.contact_methods) + 1))
        return replace(person, contact_methods=(*person.contact_methods, new))

    try:
        await run_in_threadpool(c.accounts.update_profile, subject.email, add)
    except ValidationFailed as failed:
        errors = _method_errors(failed, made[-1][1] if made else 0)
        return await _page_async(request, c, user, subject, errors, values)
    method = made[-1][0]
    session = web.session_of(request)
    if not verify:
        session.flash(f"Added {_label(method)}.")
        return web.redirect(request, _url(subject))
    session.flash(f"Added {_label(method)}: it gets pages once you type in the code sent to it.")
    await _send_code(request, c, subject, method.id)
    return web.redirect(request, f"{_url(subject)}#method-{method.id}")


async def _page_async(
    request: Request,
    c: web.Console,
    viewer: User,
    subject: User,
    errors: dict[str, str],
    form: dict[str, str],
) -> Response:
    return await run_in_threadpool(
        lambda: _page(request, c, viewer, subject, errors=errors, form=form, status=422)
    )


async def _send_code(request: Request, c: web.Console, subject: User, method_id: str) -> None:
    """Send a code, and flash what happened."""
    session = web.session_of(request)
    try:
        sent = await c.api.container.contact_methods.send_code(subject, method_id)
    except (CannotSend, TooMany, NotFound) as refused:
        session.flash(f"No code sent: {refused.message}.", "error")
    except DeliveryFailed as failed:
        session.flash(f"The code could not be sent: {failed.reason}", "error")
    else:
        zone = getattr(request.state, "time_zone", "UTC")
        expires = display.when(sent.expires_at, zone, seconds=False)
        session.flash(f"Code sent to {sent.method.address}; it works until {expires}.")


def _method_of(c: web.Console, subject: User, method_id: str) -> ContactMethod:
    method = c.accounts.profile(subject.email).method(method_id)
    if method is None:
        raise web.not_found(f"The contact method {method_id}")
    return method


@router.post("/profile/{email}/methods/{method_id}/code")
async def send_code(
    email: str, method_id: str, request: Request, user: UserDep, _form: FormDep, c: ConsoleDep
) -> Response:
    subject = await run_in_threadpool(_subject, c, user, email)
    if subject.id != user.id:
        raise web.ConsoleError(
            403, "Not yours", "Only the owner of a method can receive its code.", ("/", "Dashboard")
        )
    await _send_code(request, c, subject, method_id)
    return web.redirect(request, f"{_url(subject)}#method-{method_id}")


@router.post("/profile/{email}/methods/{method_id}/verify")
async def verify(
    email: str, method_id: str, request: Request, user: UserDep, form: FormDep, c: ConsoleDep
) -> Response:
    subject = await run_in_threadpool(_subject, c, user, email)
    code = web.field(form, "code", 20)
    try:
        method = await c.api.container.contact_methods.verify(subject, method_id, code)
    except WrongCode as wrong:
        errors = {f"code-{method_id}": wrong.problems[0][1]}
        return await _page_async(request, c, user, subject, errors, {})
    except NotFound:
        raise web.not_found(f"The contact method {method_id}") from None
    web.session_of(request).flash(f"{_label(method)} is verified: Pager pages you there now.")
    return web.redirect(request, f"{_url(subject)}#method-{method_id}")


@router.post("/profile/{email}/methods/{method_id}/test")
async def send_test(
    email: str, method_id: str, request: Request, user: UserDep, _form: FormDep, c: ConsoleDep
) -> Response:
    subject = await run_in_threadpool(_subject, c, user, email)
    session = web.session_of(request)
    try:
        result = await c.api.container.contact_methods.send_test(subject, method_id, user.email)
    except TooMany as limited:
        session.flash(f"No test sent: {limited.message}.", "error")
    except NotFound:
        raise web.not_found(f"The contact method {method_id}") from None
    else:
        session.flash(result.summary, "ok" if result.outcome == "sent" else "error")
    return web.redirect(request, f"{_url(subject)}#method-{method_id}")


def _change(
    request: Request,
    c: web.Console,
    subject: User,
    change: Callable[[Person], Person],
    done: str,
) -> bool:
    """Change the profile from what is there; flash what happened. False if refused."""
    session = web.session_of(request)
    try:
        c.accounts.update_profile(subject.email, change)
    except (ValidationFailed, NotFound, Conflict) as refused:
        session.flash(refused.message, "error")
        return False
    session.flash(done)
    return True


@router.post("/profile/{email}/methods/{method_id}/delete")
def remove_method(
    email: str, method_id: str, request: Request, user: UserDep, _form: FormDep, c: ConsoleDep
) -> Response:
    subject = _subject(c, user, email)
    method = _method_of(c, subject, method_id)

    def remove(person: Person) -> Person:
        methods = tuple(m for m in person.contact_methods if m.id != method_id)
        rules = tuple(r for r in person.rules if r.contact_method != method_id)
        return replace(person, contact_methods=methods, rules=rules)

    if _change(request, c, subject, remove, f"Removed {_label(method)} and its rules."):
        c.api.container.contact_methods.forget_code(subject, method_id)
    return web.redirect(request, _url(subject))


def _set_enabled(method_id: str, enabled: bool) -> Callable[[Person], Person]:
    def change(person: Person) -> Person:
        methods = tuple(
            replace(m, enabled=enabled) if m.id == method_id else m for m in person.contact_methods
        )
        return replace(person, contact_methods=methods)

    return change


@router.post("/profile/{email}/methods/{method_id}/enable")
def enable_method(
    email: str, method_id: str, request: Request, user: UserDep, _form: FormDep, c: ConsoleDep
) -> Response:
    """Admins enable a method as given, as through the API (`enabled: true`); anyone their
    own email methods, which need no code."""
    subject = _subject(c, user, email)
    method = _method_of(c, subject, method_id)
    if not user.is_admin and method.type != "email":
        raise web.ConsoleError(
            403,
            "Verify it first",
            "A phone gets pages once you type back the code sent to it.",
            (_url(subject), "Profile"),
        )
    _change(request, c, subject, _set_enabled(method_id, True), f"Enabled {_label(method)}.")
    return web.redirect(request, f"{_url(subject)}#method-{method_id}")


@router.post("/profile/{email}/methods/{method_id}/disable")
def disable_method(
    email: str, method_id: str, request: Request, user: UserDep, _form: FormDep, c: ConsoleDep
) -> Response:
    subject = _subject(c, user, email)
    method = _method_of(c, subject, method_id)
    done = f"{_label(method)} gets no pages now."
    _change(request, c, subject, _set_enabled(method_id, False), done)
    return web.redirect(request, f"{_url(subject)}#method-{method_id}")


# -- notification rules


_RULE_FIELDS = {"contact_method": "contact_method", "repeat_every_minutes": "repeat"}


def _minutes(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


@router.post("/profile/{email}/rules")
def add_rule(email: str, request: Request, user: UserDep, form: FormDep, c: ConsoleDep) -> Response:
    subject = _subject(c, user, email)
    method_id = web.field(form, "contact_method", 63)
    delay_text = web.field(form, "delay", 10)
    repeat_text = web.field(form, "repeat", 10)
    values = {"rule_method": method_id, "delay": delay_text, "repeat": repeat_text}
    delay = _minutes(delay_text)
    if delay is None or not 0 <= delay <= MAX_DELAY_MINUTES:
        errors = {"delay": f"a whole number of minutes from 0 to {MAX_DELAY_MINUTES}"}
        return _page(request, c, user, subject, errors=errors, form=values, status=422)
    repeat = _minutes(repeat_text) if repeat_text else None
    if repeat_text and (repeat is None or not 1 <= repeat <= MAX_REPEAT_MINUTES):
        errors = {"repeat": f"blank, or a whole number of minutes from 1 to {MAX_REPEAT_MINUTES}"}
        return _page(request, c, user, subject, errors=errors, form=values, status=422)

    def add(person: Person) -> Person:
        return replace(person, rules=(*person.rules, NotificationRule(delay, method_id, repeat)))

    try:
        c.accounts.update_profile(subject.email, add)
    except ValidationFailed as failed:
        errors = {_RULE_FIELDS.get(w.rsplit(" ", 1)[-1], "delay"): m for w, m in failed.problems}
        return _page(request, c, user, subject, errors=errors, form=values, status=422)
    web.session_of(request).flash("Added the rule.")
    return web.redirect(request, f"{_url(subject)}#rules")


@router.post("/profile/{email}/rules/delete")
def remove_rule(
    email: str, request: Request, user: UserDep, form: FormDep, c: ConsoleDep
) -> Response:
    index = web.field(form, "index", 4)
    expected = (
        web.field(form, "contact_method", 63),
        web.field(form, "delay", 10),
        web.field(form, "repeat", 10),
    )

    def remove(person: Person) -> Person:
        number = int(index) if index.isdigit() else 0
        if not 1 <= number <= len(person.rules):
            raise Conflict("that rule is gone already")
        rule = person.rules[number - 1]
        repeat = "" if rule.repeat_every_minutes is None else str(rule.repeat_every_minutes)
        if (rule.contact_method, str(rule.delay_minutes), repeat) != expected:
            raise Conflict("the rules changed meanwhile: look again")
        return replace(person, rules=person.rules[: number - 1] + person.rules[number:])

    subject = _subject(c, user, email)
    _change(request, c, subject, remove, "Removed the rule.")
    return web.redirect(request, f"{_url(subject)}#rules")
