"""`python -m services.gateway`"""

from services.gateway.app import create_server
from shared.runtime.service import main

if __name__ == "__main__":
    main("gateway", create_server)
