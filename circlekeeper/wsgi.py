import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "circlekeeper.settings")

application = get_wsgi_application()

# A master key that cannot unwrap the stored keys stops the server here, naming the fix (issue 20).
from circlekeeper.lib.keys import refuse_a_wrong_master_key  # noqa: E402

refuse_a_wrong_master_key()
