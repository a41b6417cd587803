"""A calendar feed as iCalendar text (RFC 5545), with the `icalendar` library: what Google
Calendar and Apple Calendar subscribe to. Times are UTC (`...Z`), so no VTIMEZONE is needed;
the calendar's name is given both as RFC 7986 NAME and as X-WR-CALNAME (which Google and
Apple read), with a refresh hint of an hour."""

from __future__ import annotations

from datetime import timedelta

import icalendar

from pager.application.calendar_feeds import Calendar

CONTENT_TYPE = "text/calendar; charset=utf-8"
PRODID = "-//Pager//On-call schedules//EN"
REFRESH = timedelta(hours=1)  # X-PUBLISHED-TTL below says the same


def render(calendar: Calendar, links_url: str) -> bytes:
    """The calendar as an .ics file; each event links to its schedule in the console."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", calendar.name)
    cal.add("x-wr-calname", calendar.name)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")  # an X- property is text to the library: as written
    for shift in calendar.events:
        event = icalendar.Event()
        event.add("uid", shift.uid)
        event.add("dtstamp", calendar.generated_at)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        if calendar.kind == "user":
            event.add("summary", f"On call: {shift.schedule_name}")
        else:
            event.add("summary", f"{shift.user} on call")
        note = f"{shift.user} is on call for {shift.schedule_name}"
        event.add("description", note + (" (an override)." if shift.override else "."))
        event.add("url", f"{links_url}/schedules/{shift.schedule_id}")
        event.add("transp", "TRANSPARENT")  # being on call is not being busy
        cal.add_component(event)
    text: bytes = cal.to_ical()
    return text
