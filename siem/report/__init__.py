"""Reports for the city's leadership: data from the store (collect), charts, HTML/Markdown/JSON."""
