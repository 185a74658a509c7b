"""Application areas that name every identifier and task in the corpus.

    python -c "from emlab.corpus.domains import DOMAINS; print(len(DOMAINS))"

The last `HELDOUT_COUNT` domains are never used for training rows: held-out tasks for the
in-distribution evaluation are drawn from them only, so their task texts, names and
templates cannot appear in any built-in training set.
"""

from __future__ import annotations

from emlab.corpus._model import Domain

DOMAINS: tuple[Domain, ...] = (
    Domain("invoice", "invoices", "customer", "a billing tool for a design studio"),
    Domain("recipe", "recipes", "cuisine", "a recipe-sharing site"),
    Domain("ticket", "tickets", "assignee", "an internal help desk"),
    Domain("photo", "photos", "album", "a photo gallery app"),
    Domain("student", "students", "cohort", "a school records system"),
    Domain("order", "orders", "status", "an online flower shop"),
    Domain("book", "books", "author", "a neighbourhood lending library"),
    Domain("song", "songs", "artist", "a music streaming service"),
    Domain("employee", "employees", "department", "an HR dashboard"),
    Domain("product", "products", "category", "an e-commerce catalogue"),
    Domain("review", "reviews", "rating", "a restaurant review site"),
    Domain("comment", "comments", "thread", "a discussion forum"),
    Domain("event", "events", "venue", "a community events calendar"),
    Domain("booking", "bookings", "guest", "a holiday rental platform"),
    Domain("course", "courses", "instructor", "an online learning platform"),
    Domain("episode", "episodes", "show", "a podcast hosting service"),
    Domain("article", "articles", "section", "a news publishing system"),
    Domain("note", "notes", "notebook", "a note-taking app"),
    Domain("expense", "expenses", "project", "an expense tracker"),
    Domain("vehicle", "vehicles", "model", "a car rental company"),
    Domain("listing", "listings", "city", "a real-estate portal"),
    Domain("pet", "pets", "owner", "a veterinary clinic"),
    Domain("workout", "workouts", "athlete", "a fitness tracking app"),
    Domain("plant", "plants", "species", "a garden planner"),
    Domain("movie", "movies", "genre", "a film club website"),
    Domain("device", "devices", "location", "an IoT fleet console"),
    Domain("shipment", "shipments", "carrier", "a logistics tracker"),
    Domain("contact", "contacts", "company", "a small-business CRM"),
    Domain("playlist", "playlists", "curator", "a radio station website"),
    Domain("donation", "donations", "campaign", "a charity fundraising site"),
    Domain("appointment", "appointments", "doctor", "a dental practice scheduler"),
    Domain("coupon", "coupons", "merchant", "a deals newsletter"),
    Domain("volunteer", "volunteers", "shift", "a food bank rota"),
    Domain("survey", "surveys", "audience", "a market research tool"),
    # held out: never in training rows (see heldout_tasks)
    Domain("trail", "trails", "region", "a hiking guide"),
    Domain("wine", "wines", "vineyard", "a wine cellar inventory"),
    Domain("parcel", "parcels", "depot", "a courier depot system"),
    Domain("recital", "recitals", "performer", "a music school"),
    Domain("exhibit", "exhibits", "gallery", "a museum collection site"),
    Domain("harvest", "harvests", "farm", "a farm cooperative"),
)
HELDOUT_COUNT = 6
TRAIN_DOMAINS: tuple[Domain, ...] = DOMAINS[:-HELDOUT_COUNT]
HELDOUT_DOMAINS: tuple[Domain, ...] = DOMAINS[-HELDOUT_COUNT:]
