"""`python -m services.authorizer`"""

from services.authorizer.app import create_service
from shared.runtime.service import main

if __name__ == "__main__":
    main("authorizer", create_service)
