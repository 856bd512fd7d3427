"""Everything about Zoom: its webhook events (``events``), its REST API (``client``), its join
URLs (``urls``) and the organizer commands built on the API (``sync``)."""
