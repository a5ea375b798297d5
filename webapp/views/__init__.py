"""Server-rendered pages for staff, one blueprint per area."""
