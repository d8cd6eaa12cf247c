"""`python -m services.webhooks`"""

from services.webhooks.app import create_service
from shared.runtime.service import main

if __name__ == "__main__":
    main("webhooks", create_service)
