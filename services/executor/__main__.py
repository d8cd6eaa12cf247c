"""`python -m services.executor`"""

from services.executor.app import create_service
from shared.runtime.service import main

if __name__ == "__main__":
    main("executor", create_service)
