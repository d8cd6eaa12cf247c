"""`python -m services.token_refresher`"""

from services.token_refresher.app import create_service
from shared.runtime.service import main

if __name__ == "__main__":
    main("token_refresher", create_service)
